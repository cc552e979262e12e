"""kdviz: an interactive teaching tool for knowledge distillation (Hinton, Vinyals & Dean 2015).

The package is a small torch core; the Streamlit views live in ``app.py`` and ``pages/``.
"""

__version__ = "0.1.0"
