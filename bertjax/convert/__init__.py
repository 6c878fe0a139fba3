"""Hugging Face interop: load any BERT or ModernBERT folder into any head, save params as a folder transformers
loads, and bertjax's own model folder."""

from bertjax.convert.architecture import ENCODER, HF_CLASS_NAMES, head_for_architectures, head_module, hf_class_name
from bertjax.convert.load import LoadReport, load_pretrained
from bertjax.convert.model_dir import load_model_dir, save_model_dir
from bertjax.convert.save import save_pretrained

__all__ = [
    "ENCODER", "HF_CLASS_NAMES", "LoadReport", "head_for_architectures", "head_module", "hf_class_name",
    "load_model_dir",
    "load_pretrained", "save_model_dir", "save_pretrained",
]
