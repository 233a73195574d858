"""sparselab: train and explore Discriminative Recurrent Sparse Auto-Encoders.   streamlit run app.py"""
import streamlit as st

st.set_page_config(page_title="sparselab", page_icon="🧠", layout="wide")

PAGES = [
    st.Page("pages/overview.py", title="Overview", icon="🏠", default=True),
    st.Page("pages/training.py", title="Training", icon="🏋️"),
    st.Page("pages/filters.py", title="Filters", icon="🧩"),
    st.Page("pages/dynamics.py", title="Dynamics", icon="⏱️"),
    st.Page("pages/reconstructions.py", title="Reconstructions", icon="🖼️"),
    st.Page("pages/confusion.py", title="Confusion", icon="🔢"),
    st.Page("pages/units.py", title="Units", icon="🔬"),
]
page = st.navigation(PAGES)
page.run()
