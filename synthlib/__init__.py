"""synthlib: synthetic clinical tables from fine-tuned language models.

Importing the package sets ``HF_HUB_OFFLINE=1`` and ``HF_DATASETS_OFFLINE=1`` so that
no Hugging Face call reaches the network: models come from local directories only.
"""

import logging
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")

__version__ = "0.1.0"

logging.getLogger(__name__).addHandler(logging.NullHandler())
