"""The framework's floor for bench/slider_latency.py: two pages, one slider, one small chart."""
import plotly.graph_objects as go
import streamlit as st


def chart_page():
    t = st.sidebar.slider("Unroll steps T", 1, 33, 11)
    fig = go.Figure(go.Scatter(x=list(range(1, 34)), y=[(i * 7) % 11 for i in range(33)]))
    fig.add_vline(x=t)
    st.plotly_chart(fig)


def other_page():
    st.write("other page")


st.navigation([st.Page(chart_page, title="Chart", default=True), st.Page(other_page, title="Other")]).run()
