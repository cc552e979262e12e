"""The app's pages (Streamlit lists pages/*.py in the sidebar) and their shared helpers in pages/ui.

Streamlit's page discovery skips `__init__.py` and subfolders, so neither is a page.
"""
