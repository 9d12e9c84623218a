"""Streamlit helpers shared by the pages (the library ``synth_core`` never imports streamlit).

- :mod:`app_support.state`: the session-state keys every page agrees on, and small accessors.
- :mod:`app_support.cached`: ``st.cache_data`` / ``st.cache_resource`` wrappers over ``synth_core``.
- :mod:`app_support.jobs`: a generation run in a background thread with progress and cancel.
- :mod:`app_support.widgets`: the sidebar, "what to do first" notices and small display helpers.
- :mod:`app_support.evaluate`: the Compare page's metric cards and table, one value per metric.
- :mod:`app_support.glossary`: one line per term from the papers, for tooltips and glossaries.

Every figure comes from :mod:`synth_core.viz`; pages only place it.
"""
