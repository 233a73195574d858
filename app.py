"""sparselab: train and explore Discriminative Recurrent Sparse Auto-Encoders.   streamlit run app.py"""
import streamlit as st

st.set_page_config(page_title="sparselab", page_icon=":material/blur_on:", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/training.py", title="Training", icon=":material/model_training:"),
    st.Page("pages/filters.py", title="Filters", icon=":material/grid_view:"),
    st.Page("pages/dynamics.py", title="Dynamics", icon=":material/timeline:"),
    st.Page("pages/reconstructions.py", title="Reconstructions", icon=":material/image:"),
    st.Page("pages/confusion.py", title="Confusion", icon=":material/grid_on:"),
    st.Page("pages/units.py", title="Units", icon=":material/biotech:"),
]
page = st.navigation(PAGES)
page.run()
