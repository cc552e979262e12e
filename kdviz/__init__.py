"""kdviz: an interactive teaching tool for knowledge distillation (Hinton, Vinyals & Dean 2015).

The package is a small torch core; the Streamlit views live in ``app.py`` and ``pages/``.
"""

from kdviz.device import flush_denormals

__version__ = "0.1.0"

# Before this process's first torch operation starts its CPU threads: they take the flag from it
# (kdviz.device.flush_denormals; the job queue sets it again in each training thread).
flush_denormals()
