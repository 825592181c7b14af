"""Numerical tolerances of the test suite, derived from float32 arithmetic rather than from one machine.

Why two correct float32 results differ. A reduction (a dot product, a convolution, a sum) of n terms is
added up in an order that depends on the CPU's vector width (AVX2, AVX-512, AMX), on the library's
blocking (MKL, oneDNN, ATen's own kernels) and on the number of threads. Each order rounds differently.
The error of a float32 sum of n terms behaves like a random walk of n roundings, each at most
u = 2**-24 of the running sum: about sqrt(n) * u of the terms' magnitude (the probabilistic bound of
Higham and Mary, SIAM J. Sci. Comput. 41(5), 2019; the worst-case bound n * u needs adversarial data).
The goldens were computed by NVIDIA's code in float32 on another CPU, so a comparison sees two such
errors, and a model chains several reductions.

:data:`SAFETY` is the allowance over the one-reduction estimate sqrt(n) * u: it covers the second
computation (a factor sqrt(2)), a few chained reductions and the tail of the random walk. The
tolerances stay tight: :data:`PERTURBATION`, a 0.1 % change of an input or a weight, moves outputs by
about 1e-3 of their size, and ``reduction_rtol(n)`` is below 1e-4 for every n < 4 * 10**4; each golden
test checks that such a perturbation fails it.

Measured on an Intel Xeon (Sapphire Rapids) with torch 2.13 while simulating other CPUs
(``ONEDNN_MAX_CPU_ISA``, ``MKL_ENABLE_INSTRUCTIONS``, ``ATEN_CPU_CAPABILITY`` from AVX-512 down to
SSE4.1): the float32 errors of every golden comparison sit 3x to 30x below these bounds.
"""

from __future__ import annotations

import math

import torch

UNIT_ROUNDOFF = 2.0**-24
"""float32 unit roundoff u: the largest relative error of one rounding."""
SAFETY = 8.0
"""Allowance over sqrt(n) * u (two computations, chained reductions, the random walk's tail)."""
PERTURBATION = 1e-3
"""A 0.1 % change of an input or of weights: every golden comparison must fail on it."""


GOLDEN_MODEL_TOL = {"rtol": 1e-4, "atol": 1e-4}
"""Element-wise tolerance of the golden Tacotron 2, WaveGlow and denoiser outputs (values of order 1).

The golden models' longest reductions have about 400 terms (the postnet's first convolution: 80 mel
channels x 5 taps), and a Tacotron 2 decoder step chains about ten of them (prenet, two LSTM cells,
attention, projections): ``reduction_rtol(400, chained=10)`` = 9.5e-5, rounded to 1e-4. The
autoregression feeds errors back, but attention's softmax and the LSTM gates saturate rather than
amplify them. Measured under simulated AVX2, AVX-512 and SSE kernels: errors at most 0.2 of this
tolerance (Tacotron 2 inference), 0.04 (denoiser), 0.005 (WaveGlow); weights changed by 0.1 % miss it
by 3.5x (WaveGlow's smallest output) to 900x.
"""

SAME_MATH_TOL = {"rtol": 1e-5, "atol": 1e-5}
"""Two paths through one model on one machine that differ only in how sums are grouped: a batch
against its rows alone, teacher forcing against free running on the same frames, fused against
separate weights. The tests' models are tiny (widths 8 to 64, so reductions of at most a few hundred
terms, ``reduction_rtol(320)`` = 2.7e-6 each) and their outputs of order 1; a decoder chains a few
such reductions per step and feeds them back, which the 4x margin covers. Passes under simulated
AVX-512, AVX2 and SSE kernels and with one thread; a real change of the computation (a dropped
mask, a wrong frame fed back) moves outputs by 1e-3 or more, which the same tests assert.
"""

BF16_UNIT_ROUNDOFF = 2.0**-8
"""bfloat16 unit roundoff (8 significant bits): what rounding one input or weight to bf16 costs."""
FP16_UNIT_ROUNDOFF = 2.0**-11
"""float16 unit roundoff (11 significant bits)."""


def reduction_rtol(n_terms: int, chained: int = 1) -> float:
    """Relative error two float32 computations of ``chained`` reductions of ``n_terms`` may show.

    Relative to the magnitude of the terms (for a norm-wise comparison, to the norm of the result).

    >>> f"{reduction_rtol(1024):.1e}"
    '1.5e-05'
    """
    return SAFETY * chained * math.sqrt(n_terms) * UNIT_ROUNDOFF


def rel_l2(got: torch.Tensor, want: torch.Tensor) -> float:
    """Norm-wise relative difference ||got - want|| / ||want||, computed in float64.

    Norm-wise rather than element-wise: an element that is small because its terms cancel carries the
    rounding error of its large terms, so its own relative error says nothing about correctness.
    """
    assert got.shape == want.shape, (got.shape, want.shape)
    return ((got.double() - want.double()).norm() / want.double().norm()).item()


def perturbed(tensor: torch.Tensor, relative: float = PERTURBATION) -> torch.Tensor:
    """``tensor`` scaled by (1 - relative): the 0.1 % change a golden test must notice.

    Smaller rather than larger, so full-scale audio stays within [-1, 1].
    """
    return tensor * (1.0 - relative)


def perturb_weights_(module: torch.nn.Module, relative: float = PERTURBATION) -> torch.nn.Module:
    """Scale every floating-point parameter of ``module`` by (1 + relative), in place; returns it."""
    with torch.no_grad():
        for parameter in module.parameters():
            if parameter.is_floating_point():
                parameter.mul_(1.0 + relative)
    return module
