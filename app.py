"""sparselab: train and explore learned sparse representations.   streamlit run app.py

The sidebar is drawn here, once, before the page; the pages offered are those the selected model can fill.
"""
import streamlit as st

from ui import nav, sidebar, state, url

st.set_page_config(page_title="sparselab", page_icon=":material/blur_on:", layout="wide")

nav.through_app()
state.start_run()
url.start()
selection = sidebar.draw()
specs = nav.offered(selection.caps if selection else None)
pages = [st.Page(p.path, title=p.title, icon=p.icon, default=(i == 0)) for i, p in enumerate(specs)]
st.navigation(pages).run()
