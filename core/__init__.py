"""Duplicate Image Finder core library (pure Python; never imports streamlit)."""
