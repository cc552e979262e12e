"""Streamlit helpers the pages share (pages/*.py are the pages; this folder is not scanned)."""
