"""sparselab: train and explore learned sparse representations.   streamlit run app.py

The sidebar is drawn here, once, before the page; the pages offered are those the selected model can fill.
"""
import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

from ui import nav, sidebar

st.set_page_config(page_title="sparselab", page_icon=":material/blur_on:", layout="wide")

# A server's first run sees the pages/ folder and takes Streamlit's old multipage mode until st.navigation runs;
# widgets drawn in that run are then replaced, and the user's first move of a sidebar slider is lost. Start over
# in st.navigation's mode at once.
if getattr(PagesManager, "uses_pages_directory", False):
    PagesManager.uses_pages_directory = False
    st.rerun()

selection = sidebar.draw()
specs = nav.offered(selection.caps if selection else None)
pages = [st.Page(p.path, title=p.title, icon=p.icon, default=(i == 0)) for i, p in enumerate(specs)]
st.navigation(pages).run()
