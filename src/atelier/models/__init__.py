"""Model families, one file each, registered by name (``atelier models`` lists them).

Every family is an ``nn.Module`` built from a ``@dataclass`` config; models take and return
``(B, C, H, W)`` float32 tensors in [0, 1]. Generators have
``sample(n, *, labels=None, generator=None, device=None)``.

Example
-------
>>> from atelier.models import list_models
>>> [spec.name for spec in list_models()]
['adain', 'captioner', 'cgan', 'classifier', 'cvae', 'dcgan', 'diffusion', 'dncnn', 'drunet', 'edsr', 'espcn', 'inpaint', 'style', 'text-gan', 'vae', 'vaegan']
"""

from __future__ import annotations

from atelier.models.registry import (
    ModelConfig,
    ModelSpec,
    build_model,
    config_to_dict,
    get_model_spec,
    list_models,
    load_model,
    register_model,
    save_model,
)
from atelier.models.gan_losses import GAN_LOSSES, get_gan_loss, gradient_penalty
from atelier.models.dcgan import DCGAN, DCGANConfig
from atelier.models.cgan import CGAN, CGANConfig
from atelier.models.vae import VAE, VAEConfig
from atelier.models.cvae import CVAE, CVAEConfig
from atelier.models.vaegan import VAEGAN, VAEGANConfig
from atelier.models.classifier import Classifier, ClassifierConfig
from atelier.models.sr import EDSR, EDSRConfig, ESPCN, ESPCNConfig
from atelier.models.dncnn import DnCNN, DnCNNConfig
from atelier.models.drunet import DRUNet, DRUNetConfig
from atelier.models.style_net import StyleNet, StyleNetConfig
from atelier.models.adain import AdaIN, AdaINConfig
from atelier.models.inpaint_unet import InpaintUNet, InpaintUNetConfig
from atelier.models.captioner import Captioner, CaptionerConfig
from atelier.models.unet import DiffusionConfig, DiffusionUNet
from atelier.models.text_gan import TextGAN, TextGANConfig

__all__ = [
    "ModelConfig",
    "ModelSpec",
    "build_model",
    "config_to_dict",
    "get_model_spec",
    "list_models",
    "load_model",
    "register_model",
    "save_model",
    "GAN_LOSSES",
    "get_gan_loss",
    "gradient_penalty",
    "DCGAN",
    "DCGANConfig",
    "CGAN",
    "CGANConfig",
    "VAE",
    "VAEConfig",
    "CVAE",
    "CVAEConfig",
    "VAEGAN",
    "VAEGANConfig",
    "StyleNet",
    "AdaIN",
    "AdaINConfig",
    "InpaintUNet",
    "InpaintUNetConfig",
    "StyleNetConfig",
    "Classifier",
    "ClassifierConfig",
    "ESPCN",
    "ESPCNConfig",
    "EDSR",
    "EDSRConfig",
    "DnCNN",
    "DnCNNConfig",
    "DRUNet",
    "DRUNetConfig",
    "Captioner",
    "CaptionerConfig",
    "DiffusionUNet",
    "DiffusionConfig",
    "TextGAN",
    "TextGANConfig",
]
