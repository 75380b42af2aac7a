"""RectGrad (Rectified Gradient) as a Captum attribution method.

Kim, Seo, Jeon, Lee and Yoon, "Why are Saliency Maps Noisy? Cause of and Solution to Noisy
Saliency Maps", ICCV 2019 workshop VXAI, arXiv:1902.04893.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any, cast

import torch
from captum._utils.common import (
    _format_output,
    _format_tensor_into_tuples,
    _is_tuple,
    _run_forward,
    _select_targets,
)
from captum._utils.typing import TargetType, TensorOrTupleOfTensorsGeneric
from captum.attr import GradientAttribution
from captum.log import log_usage
from torch import Tensor

from methods.checks import check_inputs, check_target, eval_mode, script_submodules
from methods.intercept import RectGradMode
from methods.percentile import check_percentile
from methods.rectgrad_zeros import check_not_zeroed
from methods.rules import ReLURule

__all__ = ["RectGrad"]


class RectGrad(GradientAttribution):
    r"""Rectified Gradient: the gradient with every ReLU's derivative replaced by a threshold rule.

    At every ReLU call the backward pass keeps only units whose contribution ``a * R`` (a = the
    ReLU output, R = the gradient arriving at it) exceeds a threshold tau:
    ``R_in = 1[a * R > tau] * R`` (paper section 4.1). tau is, per example and per ReLU call, the
    ``percentile``-th nearest-rank percentile of ``a * R`` over all units of that call's output
    (C*H*W units for a conv map, D for a dense layer), compared strictly; ``tau=`` a number uses
    that constant instead (``tau=0`` is Guided Backprop, paper Claim 2). The attribution is
    ``x * R_input``, kept only where positive when ``final_threshold`` is True (the paper's
    definition). Backward through affine layers and pooling is unchanged, except:

    * ``padding_trick=True`` (appendix C.1): the gradient arriving at every convolution's output is
      zeroed on a border as wide as the convolution's zero padding (per side; 'same' padding is
      split as torch splits it; the width is the padding whatever the stride).
    * ``prr=True`` (appendix C.2): 2-D max-pooling backpropagates by the proportional
      redistribution rule ``R_in = x * avgpool_backward(R_out / (avgpool(x) + 1e-10))``.

    The rules are applied by intercepting the calls during the forward pass (see
    :mod:`methods.intercept`), so ``nn.ReLU`` (also inplace), ``F.relu``, ``torch.relu``,
    ``Tensor.relu``, their in-place forms and a ReLU module called several times (torchvision's
    ResNet blocks) are all handled, each call as its own layer. Nothing is registered on the model.

    Other activations (sigmoid, tanh, GELU, SiLU, ELU, leaky ReLU, ReLU6/hardtanh, softplus, ...)
    keep their ordinary gradient; a ``UserWarning`` naming them is issued once per ``attribute``
    call. A forward pass in which no ReLU on the gradient path was called raises ``ValueError``
    (the rule would have applied to nothing), and so do TorchScript submodules (the interception
    cannot see inside them: their ReLUs would silently keep the plain gradient).

    No silent zeros: when the gradient of an example comes back exactly zero everywhere, the call
    finds out why (on that path only). If the padding trick or PRR is to blame (without it the
    gradient is non-zero) it raises ``ValueError`` naming the rule and, for the padding trick, the
    convolutions whose whole output lies inside the zeroed border (e.g. ResNet-18's 1x1 maps at
    32 px). If the threshold itself removed every path, a ``RuntimeWarning`` says so.

    Inputs are checked (floating, finite unless ``allow_nonfinite``), targets are checked against
    the model's output (negative or out-of-range indices raise ``ValueError``), and an
    ``nn.Module`` in train mode is put in eval mode for the call and restored afterwards.

    Args:
        model: The forward function, usually an ``nn.Module`` in eval mode; any callable works.
        percentile: q in [0, 100] for the per-example threshold. Default: 98 (the paper's).
        tau: A constant threshold instead of the percentile. Default: None.
        padding_trick: Apply the padding trick at every convolution. Default: False.
        prr: Apply the proportional redistribution rule at 2-D max-pooling. Default: False.
        activation_eps: Keyword-only. Rule ``1[(a + eps) * R > tau]``; with ``tau=0`` and a small
            ``eps > 0`` this is Deconvolution (paper Claim 1). Default: 0 (RectGrad).
        allow_nonfinite: Keyword-only. Attribute inputs holding NaN/inf with a ``RuntimeWarning``
            instead of raising ``ValueError``. Default: False.

    Example::

        >>> rg = RectGrad(model, percentile=98.0, padding_trick=True)
        >>> attributions = rg.attribute(images, target=labels)   # (N, C, H, W), >= 0
    """

    def __init__(
        self,
        model: Callable[..., Any],
        percentile: float = 98.0,
        tau: float | None = None,
        padding_trick: bool = False,
        prr: bool = False,
        *,
        activation_eps: float = 0.0,
        allow_nonfinite: bool = False,
    ) -> None:
        if not callable(model):
            raise ValueError(f"model must be callable, got {type(model).__name__}")
        _refuse_torchscript(model)
        percentile = check_percentile(percentile)
        if tau is not None:
            if isinstance(tau, bool) or not isinstance(tau, (int, float)) or math.isnan(tau):
                raise ValueError(f"tau must be a number (not NaN) or None, got {tau!r}")
            tau = float(tau)
        if isinstance(activation_eps, bool) or not isinstance(activation_eps, (int, float)) or (
            not math.isfinite(activation_eps) or activation_eps < 0
        ):
            raise ValueError(f"activation_eps must be a finite number >= 0, got {activation_eps!r}")
        GradientAttribution.__init__(self, model)
        self.model = model
        self.rule = ReLURule(percentile=percentile, tau=tau, activation_eps=float(activation_eps))
        self.padding_trick = bool(padding_trick)
        self.prr = bool(prr)
        self.allow_nonfinite = bool(allow_nonfinite)

    @property
    def multiplies_by_inputs(self) -> bool:
        return True

    @log_usage()
    def attribute(
        self,
        inputs: TensorOrTupleOfTensorsGeneric,
        target: TargetType = None,
        additional_forward_args: Any = None,
        final_threshold: bool = True,
    ) -> TensorOrTupleOfTensorsGeneric:
        r"""RectGrad attributions ``x * R_input`` for a batch.

        Args:
            inputs: A floating tensor (N, ...) or a tuple of them (aligned on dim 0).
            target: Output indices to explain, as in Captum (int, tuple, (N,) tensor or list);
                None when the model returns one value per example.
            additional_forward_args: Extra forward arguments (not attributed), as in Captum.
            final_threshold: Keep only positive attributions (the paper's final zero threshold).
                False returns the signed ``x * R_input``. Default: True.

        Returns:
            Attributions with the structure, shapes, dtype and device of ``inputs``.
        """
        is_inputs_tuple = _is_tuple(inputs)
        inputs_tuple = check_inputs(
            _format_tensor_into_tuples(inputs), allow_nonfinite=self.allow_nonfinite
        )
        _refuse_torchscript(self.forward_func)
        with eval_mode(self.forward_func):
            grads = self.gradients(inputs_tuple, target, additional_forward_args)
            attributions = tuple(
                x.detach() * g for x, g in zip(inputs_tuple, grads, strict=True)
            )
            check_not_zeroed(self, inputs_tuple, attributions, target, additional_forward_args)
        if final_threshold:
            attributions = tuple(a.clamp(min=0) for a in attributions)
        return cast(TensorOrTupleOfTensorsGeneric, _format_output(is_inputs_tuple, attributions))

    def gradients(
        self,
        inputs: tuple[Tensor, ...],
        target: TargetType,
        additional_forward_args: Any,
        *,
        padding_trick: bool | None = None,
        prr: bool | None = None,
        warn: bool = True,
    ) -> tuple[Tensor, ...]:
        """The rectified gradient ``R_input`` of each input (zeros for inputs the output ignores).

        The model's mode is used as it is (``attribute`` puts it in eval mode). ``padding_trick``
        and ``prr`` override this object's settings (None keeps them); ``warn=False`` skips the
        warning about other activations.
        """
        # Detached leaves: the caller's tensors keep their requires_grad and get no .grad.
        leaves = tuple(t.detach().requires_grad_(True) for t in inputs)
        mode = RectGradMode(
            self.rule,
            padding_trick=self.padding_trick if padding_trick is None else padding_trick,
            prr=self.prr if prr is None else prr,
        )
        with torch.enable_grad():
            with mode:
                output = _run_forward(self.forward_func, leaves, None, additional_forward_args)
            output = cast(Tensor, output)
            if warn and mode.other_activations:
                warnings.warn(
                    "RectGrad rectifies ReLUs only; these activations kept their ordinary "
                    f"gradient: {', '.join(mode.other_activations)}",
                    UserWarning,
                    stacklevel=4,
                )
            if mode.relu_calls == 0:
                raise ValueError(
                    "RectGrad found no ReLU on the gradient path of the model's forward pass; "
                    "its rule would apply to nothing"
                )
            check_target(target, output.shape)
            selected = _select_targets(output, target)
            if selected.dim() > 1 and selected[0].numel() != 1:
                raise ValueError(
                    "target must select one output per example; got outputs of shape "
                    f"{tuple(selected.shape)}"
                )
            grads = torch.autograd.grad(
                selected, leaves, grad_outputs=torch.ones_like(selected), allow_unused=True
            )
        return tuple(
            g if g is not None else torch.zeros_like(x) for x, g in zip(inputs, grads, strict=True)
        )


def _refuse_torchscript(model: object) -> None:
    scripted = script_submodules(model)
    if scripted:
        shown = ", ".join(scripted[:5]) + (f" and {len(scripted) - 5} more" if len(scripted) > 5 else "")
        raise ValueError(
            f"RectGrad cannot see inside TorchScript modules ({shown}): their ReLUs would "
            "silently keep the plain gradient; pass the eager (un-scripted) model"
        )
