// SPDX-License-Identifier: MIT
// eps (Python): operators, the pivot and the EPS network input on torch.Tensor (docs/own-model.md §5).
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "eps/network_input.hpp"

namespace eps::python {
namespace {

namespace py = pybind11;

Shape shape_of(const std::vector<std::int64_t>& s) { return Shape(s.begin(), s.end()); }
std::vector<std::int64_t> to_vec(const Shape& s) { return {s.begin(), s.end()}; }

ImageShape image_shape(const std::vector<std::int64_t>& s) {
  EPS_CHECK(s.size() == 3, shape_error, "eps: an image shape is (C, H, W), got ", s.size(), " numbers");
  return ImageShape{s[0], s[1], s[2]};
}

Kernel kernel_of(const T& k) {
  EPS_CHECK(k.dim() == 2, shape_error, "eps: a kernel is a 2-D tensor, got ", k.dim(), " dimensions");
  const T c = k.detach().to(at::kCPU, at::kDouble).contiguous();
  Kernel out;
  out.height = c.size(0);
  out.width = c.size(1);
  out.values.assign(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  return out;
}

/// A level given as a number (the whole batch) or a 1-D tensor (one per sample).
BatchValues levels_of(const py::object& v, const char* what) {
  if (py::isinstance<py::float_>(v) || py::isinstance<py::int_>(v)) return BatchValues(v.cast<double>());
  const T t = v.cast<T>().detach().to(at::kCPU, at::kDouble).contiguous().flatten();
  EPS_CHECK(t.numel() >= 1, shape_error, "eps: ", what, " is empty");
  return BatchValues(std::vector<double>(t.data_ptr<double>(), t.data_ptr<double>() + t.numel()));
}

/// A zero tensor with x's dtype and device (the `like` argument of the operators' constructors).
T like_of(const std::optional<T>& like) { return like ? *like : at::zeros({1}, at::kFloat); }

/// x̃ is only as differentiable as the backend's ops: the pivot of a Python call keeps autograd on.
struct Pivot {
  T mu_star, x_tilde;
  std::function<T(const T&)> apply, sqrt;
  std::function<T()> diagonal;
};

}  // namespace

void bind_operators(py::module_& m) {
  py::class_<Operator>(m, "Operator", "A linear operator of the library on torch.Tensor ([B, C, H, W] batches).")
      .def(
          "apply", [](const Operator& A, const T& x) { return A.visit([&](const auto& a) { return a.apply(x); }); },
          py::arg("x"), "A x")
      .def(
          "adjoint",
          [](const Operator& A, const T& y) { return A.visit([&](const auto& a) { return a.apply_adjoint(y); }); },
          py::arg("y"), "Aᵀ y")
      .def(
          "pinv",
          [](const Operator& A, const T& y) { return A.visit([&](const auto& a) { return pinv_apply(a, y); }); },
          py::arg("y"), "A† y (the factorisation where A has one, conjugate gradients otherwise)")
      .def(
          "singular_values",
          [](const Operator& A) {
            return A.visit([](const auto& a) -> T {
              if constexpr (SpectralOperator<std::decay_t<decltype(a)>>)
                return a.singular_values();
              else
                detail::raise<domain_error>("eps: ", a.name(), " has no factorisation (a composition)");
            });
          },
          "the singular values, in the operator's coefficient layout")
      .def_property_readonly(
          "in_shape",
          [](const Operator& A) { return to_vec(A.visit([](const auto& a) { return Shape(a.in_shape()); })); })
      .def_property_readonly(
          "out_shape",
          [](const Operator& A) { return to_vec(A.visit([](const auto& a) { return Shape(a.out_shape()); })); })
      .def_property_readonly("name", [](const Operator& A) { return A.visit([](const auto& a) { return a.name(); }); })
      .def("__matmul__", [](const Operator& a2, const Operator& a1) { return compose_ops(a2, a1); })
      .def("__repr__",
           [](const Operator& A) { return "eps.Operator(" + A.visit([](const auto& a) { return a.name(); }) + ")"; });

  m.def("compose", &compose_ops, py::arg("a2"), py::arg("a1"),
        "a2 ∘ a1, matrix-free (the pivot of a composition solves by conjugate gradients)");
  m.def(
      "Mask",
      [](const T& mask) {
        EPS_CHECK(mask.dim() >= 2, shape_error, "eps.Mask: expected [B or 1, C, H, W] of 0 and 1, got ", mask.sizes());
        return Operator{Mask<T>(mask, Shape(mask.sizes().begin() + 1, mask.sizes().end()))};
      },
      py::arg("mask"), "diag(mask): mask is [1 or B, C, H, W] of 0 and 1 (a box is a mask)");
  m.def(
      "AvgPool",
      [](const std::vector<std::int64_t>& shape, std::int64_t k, const std::optional<T>& like) {
        return Operator{AvgPool<T>(like_of(like), image_shape(shape), k)};
      },
      py::arg("shape"), py::arg("k"), py::arg("like") = py::none(), "k × k average pooling of (C, H, W) images");
  m.def(
      "Blur",
      [](const std::vector<std::int64_t>& shape, const py::object& kernels, const std::optional<T>& like) {
        std::vector<Kernel> ks;
        if (py::isinstance<py::list>(kernels) || py::isinstance<py::tuple>(kernels))
          for (const auto& k : kernels) ks.push_back(kernel_of(k.cast<T>()));
        else
          ks.push_back(kernel_of(kernels.cast<T>()));
        return Operator{Blur<T>(like_of(like), image_shape(shape), std::move(ks))};
      },
      py::arg("shape"), py::arg("kernel"), py::arg("like") = py::none(),
      "circular convolution with a 2-D kernel (or a list: one per sample), diagonal in the unitary FFT");
  m.def(
      "Dense",
      [](const T& matrix, const std::vector<std::int64_t>& in_shape) {
        EPS_CHECK(matrix.dim() == 2, shape_error, "eps.Dense: expected an [m, n] matrix, got ", matrix.sizes());
        const T rows = matrix.detach().to(at::kCPU, at::kDouble).contiguous();
        return Operator{
            Dense<T>(matrix, std::span<const double>(rows.data_ptr<double>(), static_cast<std::size_t>(rows.numel())),
                     matrix.size(0), shape_of(in_shape))};
      },
      py::arg("matrix"), py::arg("in_shape"),
      "a dense matrix [m, n] on inputs of in_shape (n values), by its thin SVD");
  m.def(
      "ColorToGray",
      [](const std::vector<std::int64_t>& shape, const std::optional<T>& like) {
        return Operator{ColorToGray<T>(like_of(like), image_shape(shape))};
      },
      py::arg("shape"), py::arg("like") = py::none(), "the channel average (C, H, W) → (1, H, W)");
  m.def(
      "Identity",
      [](const std::vector<std::int64_t>& shape, const std::optional<T>& like) {
        return Operator{Identity<T>(like_of(like), shape_of(shape))};
      },
      py::arg("shape"), py::arg("like") = py::none(), "the identity (denoising)");

  py::class_<Pivot>(m, "Pivot", "The shifted pivot μ*, x̃ = α μ* and the covariance Σ* (x0 space) of one measurement")
      .def_readonly("mu_star", &Pivot::mu_star)
      .def_readonly("x_tilde", &Pivot::x_tilde)
      .def(
          "covariance", [](const Pivot& p, const T& v) { return p.apply(v); }, py::arg("v"), "Σ* v")
      .def(
          "covariance_sqrt", [](const Pivot& p, const T& v) { return p.sqrt(v); }, py::arg("v"),
          "Σ*^{1/2} v (operators with a factorisation)")
      .def(
          "covariance_diagonal", [](const Pivot& p) { return p.diagonal(); }, "diag Σ*");

  m.def(
      "pivot",
      [](const Operator& A, const T& x_t, const T& y, const py::object& alpha, const py::object& sigma,
         const py::object& sigma_y) {
        const NoiseLevels lv{levels_of(alpha, "alpha"), levels_of(sigma, "sigma"), levels_of(sigma_y, "sigma_y")};
        return A.visit([&](const auto& a) {
          using Op = std::decay_t<decltype(a)>;
          const auto pv = eps::pivot(a, x_t, y, lv);
          Pivot p;
          p.mu_star = pv.mu_star();
          p.x_tilde = pv.x_tilde();
          const auto cov = pv.covariance_x0();
          p.apply = [cov](const T& v) { return cov.apply(v); };
          p.diagonal = [cov] { return cov.diagonal(); };
          if constexpr (SpectralOperator<Op>)
            p.sqrt = [cov](const T& v) { return cov.apply_sqrt(v); };
          else
            p.sqrt = [](const T&) -> T {
              detail::raise<domain_error>("eps: Σ*^{1/2} needs an operator with a factorisation");
            };
          return p;
        });
      },
      py::arg("A"), py::arg("x_t"), py::arg("y"), py::arg("alpha"), py::arg("sigma"), py::arg("sigma_y"),
      "the pivot of x_t = α x0 + σ ε and y = A x0 + σ_y n: μ* = Σ*(α/σ² x_t + Aᵀy/σ_y²), Σ* = (α²/σ² I + AᵀA/σ_y²)⁻¹ "
      "(stable spectral forms; σ_y = 0, α = 0, σ = 0 exact); levels are numbers or [B] tensors; differentiable in "
      "x_t and y");
  m.def(
      "eps_input",
      [](const Operator& A, const T& x_t, const T& y, const py::object& alpha, const py::object& sigma,
         const py::object& sigma_y) {
        const NoiseLevels lv{levels_of(alpha, "alpha"), levels_of(sigma, "sigma"), levels_of(sigma_y, "sigma_y")};
        return A.visit([&](const auto& a) {
          const ConditionalInput<T> in = eps::eps_input(a, x_t, y, lv);
          return std::pair{in.image, in.observation};
        });
      },
      py::arg("A"), py::arg("x_t"), py::arg("y"), py::arg("alpha"), py::arg("sigma"), py::arg("sigma_y"),
      "the EPS network input (x̃ = α μ*, the observation image)");
  m.def(
      "palette_input",
      [](const Operator& A, const T& x_t, const T& y) {
        return A.visit([&](const auto& a) {
          const ConditionalInput<T> in = eps::palette_input(a, x_t, y);
          return std::pair{in.image, in.observation};
        });
      },
      py::arg("A"), py::arg("x_t"), py::arg("y"), "Palette's input (x_t, the observation image)");
  m.def(
      "observation_image",
      [](const Operator& A, const T& y) {
        return A.visit([&](const auto& a) { return eps::observation_image(a, y); });
      },
      py::arg("A"), py::arg("y"), "y as an image: masked y, y upsampled by nearest neighbour, or y itself");
}

Operator compose_ops(const Operator& a2, const Operator& a1) {
  FunctionOperator f;
  f.f = [a2, a1](const T& x) {
    const T h = a1.visit([&](const auto& a) { return a.apply(x); });
    return a2.visit([&](const auto& a) { return a.apply(h); });
  };
  f.fa = [a2, a1](const T& y) {
    const T h = a2.visit([&](const auto& a) { return a.apply_adjoint(y); });
    return a1.visit([&](const auto& a) { return a.apply_adjoint(h); });
  };
  f.in = a1.visit([](const auto& a) { return Shape(a.in_shape()); });
  f.out = a2.visit([](const auto& a) { return Shape(a.out_shape()); });
  f.label = a2.visit([](const auto& a) { return a.name(); }) + " o " + a1.visit([](const auto& a) { return a.name(); });
  return Operator{f};
}

}  // namespace eps::python
