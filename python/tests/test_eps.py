# SPDX-License-Identifier: MIT
"""`import eps` (docs/own-model.md §5) against independent references: dense float64 matrices built from the
operators' definitions, the pivot's dense precision form, autograd against the closed-form Jacobian, EDM's
coefficients by hand, samplers against loops written here, the C++ U-Net against its Python twin, TorchScript
modules through eps.Model. Run by ctest (python.pytest) with PYTHONPATH at the built package."""
import math
import os

import pytest
import torch

import eps
from eps.unet import UNet, load_unet

torch.manual_seed(0)
D = torch.float64
SHAPE = (1, 6, 8)
N = 48


def dense(A, n=N):
    """A's matrix, column by column (float64)."""
    cols = [A.apply(torch.eye(n, dtype=D)[j].reshape(1, *A.in_shape)).flatten() for j in range(n)]
    return torch.stack(cols, 1)


def operators():
    mask = (torch.rand(1, *SHAPE) > 0.5).to(D)
    k = torch.tensor([[0.1, 0.2, 0.05], [0.05, 0.3, 0.1], [0.0, 0.15, 0.05]], dtype=D)
    like = torch.zeros(1, dtype=D)
    return {
        "mask": eps.Mask(mask),
        "pool": eps.AvgPool(list(SHAPE), 2, like),
        "blur": eps.Blur(list(SHAPE), k, like),
        "dense": eps.Dense(torch.randn(5, N, dtype=D), list(SHAPE)),
        "composed": eps.compose(eps.AvgPool(list(SHAPE), 2, like), eps.Blur(list(SHAPE), k, like)),
    }


@pytest.mark.parametrize("name", list(operators()))
def test_operators_adjoint_and_pinv(name):
    A = operators()[name]
    M = dense(A)
    y = torch.randn(1, *A.out_shape, dtype=D)
    x = torch.randn(1, *A.in_shape, dtype=D)
    # adjointness and the adjoint's matrix
    assert abs((A.apply(x) * y).sum() - (x * A.adjoint(y)).sum()) < 1e-10
    MT = torch.stack([A.adjoint(torch.eye(M.shape[0], dtype=D)[i].reshape(1, *A.out_shape)).flatten()
                      for i in range(M.shape[0])], 0)
    assert torch.allclose(MT, M, atol=1e-12)
    # the pseudo-inverse against torch.linalg.pinv of the matrix (CG for the composition)
    tol = 1e-6 if name == "composed" else 1e-9
    assert torch.allclose(A.pinv(y).flatten(), torch.linalg.pinv(M) @ y.flatten(), atol=tol)
    if name != "composed":
        s = torch.sort(A.singular_values().flatten(), descending=True).values
        ref = torch.linalg.svdvals(M)
        assert torch.allclose(s[: ref.numel()], ref, atol=1e-10)


def test_operator_definitions():
    like = torch.zeros(1, dtype=D)
    x = torch.randn(2, *SHAPE, dtype=D)
    pool = eps.AvgPool(list(SHAPE), 2, like)
    assert torch.allclose(pool.apply(x), torch.nn.functional.avg_pool2d(x, 2), atol=1e-14)
    k = torch.rand(3, 3, dtype=D)
    blur = eps.Blur(list(SHAPE), k, like)
    # circular convolution with the kernel centred, by the FFT of the zero-padded kernel
    kp = torch.zeros(SHAPE[1:], dtype=D)
    kp[:3, :3] = k
    kp = torch.roll(kp, shifts=(-1, -1), dims=(0, 1))
    ref = torch.fft.ifft2(torch.fft.fft2(x) * torch.fft.fft2(kp)).real
    assert torch.allclose(blur.apply(x), ref, atol=1e-12)
    with pytest.raises(ValueError):
        eps.AvgPool([1, 6], 2)


@pytest.mark.parametrize("name", ["mask", "blur", "dense", "composed"])
@pytest.mark.parametrize("sigma_y", [0.1, 0.5])
def test_pivot_is_the_dense_precision_form_and_differentiable(name, sigma_y):
    A = operators()[name]
    M = dense(A)
    a, s = 0.8, 0.6
    x_t = torch.randn(1, *SHAPE, dtype=D, requires_grad=True)
    y = torch.randn(1, *A.out_shape, dtype=D)
    pv = eps.pivot(A, x_t, y, a, s, sigma_y)
    P = a * a / (s * s) * torch.eye(N, dtype=D) + M.T @ M / sigma_y**2
    S = torch.linalg.inv(P)
    mu = S @ (a / (s * s) * x_t.detach().flatten() + M.T @ y.flatten() / sigma_y**2)
    tol = 1e-6 if name == "composed" else 1e-10
    assert torch.allclose(pv.mu_star.detach().flatten(), mu, atol=tol)
    assert torch.allclose(pv.x_tilde.detach().flatten(), a * mu, atol=tol)
    v = torch.randn(1, *SHAPE, dtype=D)
    assert torch.allclose(pv.covariance(v).flatten(), S @ v.flatten(), atol=tol)
    assert torch.allclose(pv.covariance_diagonal().flatten(), torch.diag(S), atol=tol)
    if name != "composed":
        r = pv.covariance_sqrt(pv.covariance_sqrt(v))
        assert torch.allclose(r.flatten(), S @ v.flatten(), atol=1e-10)
    # autograd: ∂(w · μ*)/∂x_t = α/σ² Σ* w
    w = torch.randn(1, *SHAPE, dtype=D)
    (g,) = torch.autograd.grad((pv.mu_star * w).sum(), x_t)
    assert torch.allclose(g.flatten(), a / (s * s) * S @ w.flatten(), atol=tol)


def test_eps_input_and_observation():
    mask = (torch.rand(2, *SHAPE) > 0.4).to(D)
    A = eps.Mask(mask)
    x_t = torch.randn(2, *SHAPE, dtype=D)
    y = A.apply(torch.randn(2, *SHAPE, dtype=D))
    alpha, sigma = torch.tensor([1.0, 1.0], dtype=D), torch.tensor([0.3, 2.0], dtype=D)
    image, obs = eps.eps_input(A, x_t, y, alpha, sigma, 0.05)
    # per pixel: Σ̃ = (1/σ² + m/(α²σ_y²))⁻¹, x̃ = Σ̃ (x_t/σ² + m y/(α σ_y²))
    s2 = sigma.view(-1, 1, 1, 1) ** 2
    var = 1 / (1 / s2 + mask / 0.05**2)
    assert torch.allclose(image, var * (x_t / s2 + mask * y / 0.05**2), atol=1e-12)
    assert torch.allclose(obs, mask * y, atol=1e-14)
    assert torch.allclose(eps.observation_image(A, y), obs)


def test_edm_preconditioning_and_loss():
    p = eps.EdmPreconditioning(0.5)
    a, s = torch.tensor([1.0, 0.7], dtype=D), torch.tensor([0.3, 2.0], dtype=D)
    c_skip, c_out, c_in, c_noise = p.coefficients(a, s)
    v = s * s + a * a * 0.25
    assert torch.allclose(c_skip, a * 0.25 / v) and torch.allclose(c_out, s * 0.5 / v.sqrt())
    assert torch.allclose(c_in, 1 / v.sqrt()) and torch.allclose(c_noise, 0.25 * torch.log(s / a))
    net = torch.nn.Conv2d(1, 1, 3, padding=1).to(D)
    F = lambda x, c: net(x) * (1 + c.view(-1, 1, 1, 1))  # noqa: E731
    x0 = torch.randn(2, *SHAPE, dtype=D)
    x = a.view(-1, 1, 1, 1) * x0 + s.view(-1, 1, 1, 1) * torch.randn_like(x0)
    loss = p.loss(F, x, x0, a, s)
    Dx = p.denoise(F, x, a, s)
    lam = (v / (s * 0.5) ** 2).view(-1, 1, 1, 1)
    assert torch.allclose(loss, (lam * (Dx - x0) ** 2).flatten(1).mean(1), atol=1e-12)
    loss.mean().backward()
    assert net.weight.grad is not None and torch.isfinite(net.weight.grad).all()


def test_noise_levels_and_task_sampler():
    g = eps.Generator(3)
    lv = eps.noise_levels(20000, g, "ve_edm", 0.3)
    ratio = lv.sigma / lv.alpha
    frac_high = (ratio > 5).double().mean().item()
    # 0.7 · P(log-normal > 5) + 0.3 · (ln 80 − ln 5)/(ln 80 − ln 0.002): about 0.079
    expect = 0.7 * 0.5 * math.erfc((math.log(5) + 1.2) / (1.2 * math.sqrt(2))) + 0.3 * (
        math.log(16) / math.log(40000))
    assert abs(frac_high - expect) < 4 * math.sqrt(expect / 20000) + 1e-3
    ts = eps.TaskSampler([1, 28, 28], ["random_inpainting", "super_resolution"], 5)
    like = torch.zeros(1)
    name, A = ts.draw(like, 4)
    assert name in ("random_inpainting", "super_resolution")
    E = ts.evaluation("random_inpainting", like, 2)
    missing = 1 - E.apply(torch.ones(2, 1, 28, 28)).mean().item()
    assert abs(missing - 0.7) < 0.02


def test_samplers_against_loops_written_here():
    # N(0, 1) prior under VE: D(x, t) = x/(1 + σ²); EDM Euler by hand.
    s = lambda t: 0.002 + t * 79.998  # noqa: E731  (ve_edm)
    D_ = lambda x, t: x / (1 + s(t) ** 2)  # noqa: E731
    x = 80 * torch.randn(3, *SHAPE, dtype=D)
    out, nfe, vjp = eps.edm_sample(D_, x, steps=10)
    assert nfe == 10 and vjp == 0
    r = [(80 ** (1 / 7) + i / 9 * (0.002 ** (1 / 7) - 80 ** (1 / 7))) ** 7 for i in range(10)] + [0.0]
    h = x.clone()
    for i in range(10):
        x0 = h / (1 + r[i] ** 2)
        h = h + (r[i + 1] - r[i]) * (h - x0) / r[i]
    assert torch.allclose(out, h, atol=1e-9)
    # DPS: one VJP per step through the Python callable (autograd), finite everywhere.
    A = operators()["mask"]
    y = A.apply(torch.randn(1, *SHAPE, dtype=D))
    out, nfe, vjp = eps.dps_sample(D_, A, y, x[:1], zeta=0.5, steps=8)
    assert (nfe, vjp) == (8, 8) and torch.isfinite(out).all()
    for f in (eps.pigdm_sample, eps.ddnm_plus_sample, eps.ddrm_sample):
        out, nfe, _ = f(D_, A, y, 0.05, x[:1], steps=8)
        assert nfe == 8 and torch.isfinite(out).all()
    out, nfe, _ = eps.daps_sample(D_, A, y, x[:1], levels=3, ode_steps=2, langevin_steps=5, tau=0.3)
    assert nfe == 6
    out, nfe, _ = eps.mpgd_sample(D_, A, y, x[:1], step=0.3, steps=8)
    assert nfe == 8 and (out.abs() < 50).all()
    out, nfe, _ = eps.zero_shot_sample(D_, A, y, 0.05, x[:1], steps=8)
    assert nfe == 8


def test_exact_eps_sampler_with_the_gaussian_posterior_denoiser():
    # For N(0, I) data the exact anisotropic denoiser at the pivot is Σ*-shrinkage: x̂0 = (I + Σ̃/α²)⁻¹ … per
    # pixel for a mask; eps_sample must call net with (x̃, observation, t) and return its x̂0's flow.
    mask = (torch.rand(1, *SHAPE) > 0.5).to(D)
    A = eps.Mask(mask)
    y = A.apply(torch.randn(1, *SHAPE, dtype=D)) + 0.1 * torch.randn(1, *SHAPE, dtype=D)
    calls = []

    def net(image, obs, t):
        calls.append(t)
        assert torch.allclose(obs, mask * y)
        return 0 * image

    x = 80 * torch.randn(2, *SHAPE, dtype=D)
    out, nfe, _ = eps.eps_sample(net, A, y, 0.1, x, steps=5)
    assert nfe == 5 and len(calls) == 5 and calls == sorted(calls, reverse=True)


def test_widen_conv_input_is_exact():
    conv = torch.nn.Conv2d(1, 4, 3, padding=1)
    wide = eps.widen_conv_input(conv, 1)
    x = torch.randn(2, 1, 8, 8)
    assert torch.equal(wide(torch.cat([x, torch.randn(2, 1, 8, 8)], 1)), conv(x))
    with pytest.raises(ValueError):
        eps.widen_conv_input(conv, 0)


def test_eps_loss_runs_and_trains():
    torch.manual_seed(1)
    net = UNet(in_channels=2, channels=8, multipliers=(1, 2), attention=False)
    x0 = torch.rand(8, 1, 28, 28) * 2 - 1
    ts = eps.TaskSampler([1, 28, 28], ["all"], 2)
    g = eps.Generator(4)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    losses = []
    for _ in range(30):
        _, A = ts.draw(x0, 8)
        loss = eps.eps_loss(net, x0, A, 0.05, eps.noise_levels(8, g)).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert math.isfinite(losses[-1]) and sum(losses[-5:]) < sum(losses[:5])


def test_the_cpp_unet_and_its_python_twin_agree():
    model = os.environ.get("EPS_SHIPPED_PRIOR")
    if not model or not os.path.exists(model):
        pytest.skip("no shipped prior (EPS_SHIPPED_PRIOR)")
    net, config = load_unet(model)
    m = eps.Model.load(model)
    x = torch.randn(3, 1, 28, 28)
    pre = eps.EdmPreconditioning(config.get("sigma_data", 0.5))
    for t in (0.01, 0.2, 0.7):
        sigma = 0.002 + t * 79.998
        a, s = torch.ones(3, dtype=D), torch.full((3,), sigma, dtype=D)
        with torch.no_grad():
            ref = pre.denoise(net, x, a, s)
            got = m.denoise(x, t, "ve_edm")
        assert torch.allclose(got, ref, atol=2e-4 * max(1.0, ref.abs().max().item()))


def test_a_torchscript_model_through_eps_model(tmp_path):
    class VP(torch.nn.Module):  # ε-prediction on VP-linear, time = t: the denoiser of N(0, 1) data
        def forward(self, x, t):
            log_a = -0.5 * (0.1 * t + 0.5 * 19.9 * t * t)
            a = torch.exp(log_a).view(-1, 1, 1, 1)
            s = torch.sqrt(-torch.expm1(2 * log_a)).view(-1, 1, 1, 1)
            x0 = a * x / (a * a + s * s)
            return (x - a * x0) / s

    path = tmp_path / "vp.pt"
    torch.jit.save(torch.jit.script(VP()), str(path))
    (tmp_path / "vp.pt.json").write_text(
        '{"predicts": "epsilon", "schedule": "vp_linear", "time": "t", "shape": [1, 28, 28]}')
    m = eps.Model.load(str(path))
    x = torch.randn(2, 1, 28, 28)
    for ratio in (0.1, 1.0, 30.0):  # eps space: x̂0 of N(0, 1) data = x̄/(1 + ς²)
        assert torch.allclose(m.x0(x, ratio), x / (1 + ratio * ratio), atol=1e-5)
    (tmp_path / "vp.pt.json").write_text('{"predicts": "epsilon", "schedule": "vp_linear", "time": "t"}')
    with pytest.raises(ValueError, match="shape"):
        eps.Model.load(str(path))
