// SPDX-License-Identifier: MIT
// eps (Python): the extension module `eps._eps` (docs/own-model.md §5).
#include "bindings.hpp"
#include "eps/networks/torch_compat.hpp"
#include "eps/version.hpp"

PYBIND11_MODULE(_eps, m) {
  m.doc() = "eps: exact posterior scores for linear inverse problems, on torch.Tensor (docs/own-model.md)";
  m.attr("__version__") = EPS_VERSION_STRING;
  // eps's errors as Python exceptions: bad input is ValueError, a numerical failure RuntimeError.
  pybind11::register_exception<eps::shape_error>(m, "ShapeError", PyExc_ValueError);
  pybind11::register_exception<eps::value_error>(m, "ValueError", PyExc_ValueError);
  pybind11::register_exception<eps::domain_error>(m, "DomainError", PyExc_ValueError);
  pybind11::register_exception<eps::io_error>(m, "IOError", PyExc_OSError);
  eps::python::bind_operators(m);
  eps::python::bind_samplers(m);
  eps::python::bind_training(m);
  m.def(
      "check_convolutions",
      [] {
        const auto& c = eps::networks::compat::check_convolutions();
        pybind11::dict d;
        d["onednn"] = c.onednn;
        d["faulty"] = c.faulty;
        d["disabled"] = c.disabled;
        d["max_error"] = c.max_error;
        d["report"] = c.report;
        return d;
      },
      "Once per process: whether this torch's oneDNN convolutions agree with ATen's float64 reference on the shapes "
      "Debian 13's torch 2.6 gets wrong on AVX-512 CPUs; if not, oneDNN is turned off (torch.backends.mkldnn) and the "
      "report printed. EPS_ONEDNN=keep leaves it on, EPS_ONEDNN=off turns it off unchecked (docs/backends.md).");
}
