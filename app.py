"""sparselab: train and explore learned sparse representations.   streamlit run app.py

The sidebar is drawn here, once, before the page; the pages offered are those the selected model can fill.
"""
import sys

import streamlit as st

st.set_page_config(page_title="sparselab", page_icon=":material/blur_on:", layout="wide")
if "torch" not in sys.modules:  # the server's first page: PyTorch loads (2 s here, over 8 s on a busy machine)
    with st.spinner("Starting: loading PyTorch (once, after the server starts)…", show_time=True):
        import torch  # noqa: F401

from models.families import NEEDS  # noqa: E402
from ui import hosts, nav, server, sidebar, state, url  # noqa: E402

# On a narrow screen a chart's title runs under its toolbar: lift the toolbar into a strip of its own above it.
st.html("""<style>@media (max-width: 640px) {
  .stPlotlyChart { padding-top: 30px; }
  .stPlotlyChart .modebar-container { top: -30px !important; }
}</style>""")

nav.through_app()
server.tune()
if not hosts.allowed(st.context.headers.get("Host", "") if st.context.headers else "",
                     st.get_option("server.address")):
    st.error("This app answers to this machine's own names only (a page elsewhere may try to reach it through "
             "another name). To share it on purpose, add that name to $SPARSELAB_ALLOWED_HOSTS.")
    st.stop()
state.start_run()
url.start()
selection = sidebar.draw()
specs = nav.offered(selection.caps if selection else None)
if "_first_page_checked" not in st.session_state:  # a link's page, once: one the model cannot fill is said
    st.session_state["_first_page_checked"] = True
    missing = nav.asked_for(st.context.url, selection.caps if selection else None)
    if missing is not None:
        needs = ", ".join(NEEDS[n] for n in missing.needs or ())
        st.warning(f"The link's page {missing.title} needs {needs or 'a model'}, which this model lacks: showing the "
                   "Overview.", icon=":material/link_off:")
pages = [st.Page(p.path, title=p.title, icon=p.icon, default=(i == 0)) for i, p in enumerate(specs)]
st.navigation(pages).run()
