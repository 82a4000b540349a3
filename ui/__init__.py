"""Streamlit glue shared by the dashboard's pages: the sidebar, cached loaders and gallery widgets.

Only this package and ``app.py`` / ``pages/`` import streamlit; ``core/`` never does.
"""
