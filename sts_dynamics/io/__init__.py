"""Reading model files: Vensim and XMILE through PySD's translators."""

from .bundled import bundled_dir, bundled_models
from .load import apply_context, load, load_contexts
from .pysd_builder import SUPPORTED_FUNCTIONS

__all__ = ["load", "load_contexts", "apply_context", "bundled_dir", "bundled_models",
           "SUPPORTED_FUNCTIONS"]
