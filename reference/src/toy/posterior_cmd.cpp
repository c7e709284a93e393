// SPDX-License-Identifier: MIT
// `eps posterior --problem FILE.json`: the exact posterior quantities of one problem, as JSON, for use from
// other languages and for checking: a Gaussian or Gaussian-mixture prior, a dense A, σ_y, a schedule, t,
// x_t and y in; the pivot μ* and x̃, Σ* and Σ̃, E[x0 | x_t, y] = D_{Σ*}(μ*) and the posterior score through
// the pivot (E1)+(E2), and the same score computed directly from the mixture, out.
#include <CLI/CLI.hpp>
#include <iostream>

#include "commands.hpp"
#include "eps/eps.hpp"
#include "posterior.hpp"
#include "toy_problem.hpp"
#include "util.hpp"

namespace eps::cli {
namespace {

using T = eigen::Tensor<double>;

struct PosteriorOptions {
  std::string problem, out;
};

json matrix_json(const Mat& m) {
  json a = json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) {
    json r = json::array();
    for (Eigen::Index j = 0; j < m.cols(); ++j) r.push_back(std::isfinite(m(i, j)) ? json(m(i, j)) : json(nullptr));
    a.push_back(std::move(r));
  }
  return a;
}

}  // namespace

json posterior_of(const json& j) {
  using namespace jsonio;
  const PriorJson pr = read_prior(member(j, "prior", ""), "prior");
  const analytic::GaussianMixture prior(pr.weights, pr.means, pr.covariances);
  const Eigen::Index d = prior.dim();
  const Mat a = matrix(member(j, "A", ""), "A", -1, d);
  const double sy = number(member(j, "sigma_y", ""), "sigma_y");
  if (sy < 0) bad("sigma_y", "must be >= 0");
  const json& sj = member(j, "schedule", "");
  if (!sj.is_string()) bad("schedule", "expected a string");
  const std::string sname = sj.get<std::string>();
  const auto names = schedule_names();
  if (std::find(names.begin(), names.end(), sname) == names.end()) {
    std::string list;
    for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
    bad("schedule", "unknown schedule '" + sname + "'; expected one of " + list);
  }
  const AnySchedule s = make_schedule(sname);
  const double t = number(member(j, "t", ""), "t");
  if (t < s.t_min() || t > s.t_max())
    bad("t", "must lie in [" + std::to_string(s.t_min()) + ", " + std::to_string(s.t_max()) + "] for schedule '" +
                 sname + "'");
  const Vec x_t = vector(member(j, "x_t", ""), "x_t", d);
  const Vec y = vector(member(j, "y", ""), "y", a.rows());

  std::vector<double> rows(static_cast<std::size_t>(a.size()));
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index k = 0; k < d; ++k) rows[static_cast<std::size_t>(i * d + k)] = a(i, k);
  const Dense<T> A(T{}, rows, a.rows(), Shape{d});
  const Coefficients c = coefficients(s, t);
  const auto pv = pivot(s, A, Mat(x_t), Mat(y), t, sy);
  const Mat x0 = prior.denoise(pv);
  json out;
  out["schedule"] = sname;
  out["t"] = t;
  out["alpha"] = c.alpha;
  out["sigma"] = c.sigma;
  out["sigma_y"] = sy;
  out["rank"] = A.rank();  // numerical rank of A (docs/conventions.md)
  out["mu_star"] = to_json(Vec(pv.mu_star().col(0)));
  out["x_tilde"] = to_json(Vec(pv.x_tilde().col(0)));
  out["sigma_tilde"] = matrix_json(pv.covariance().apply(Mat::Identity(d, d)));
  if (c.alpha > 0)
    out["sigma_star"] = matrix_json(pv.covariance_x0().apply(Mat::Identity(d, d)));
  else
    out["sigma_star"] = nullptr;  // infinite in the null space of A at alpha = 0
  out["posterior_mean"] = to_json(Vec(x0.col(0)));
  if (c.sigma > 0) {
    const Mat score = posterior_score(x0, Mat(x_t), pv.levels());
    const Mat direct = prior.posterior_score(Mat(x_t), c.alpha, c.sigma, a, Mat(y), sy);
    out["posterior_score"] = to_json(Vec(score.col(0)));
    out["posterior_score_direct"] = to_json(Vec(direct.col(0)));
    out["score_relative_difference"] = (score - direct).norm() / std::max(direct.norm(), 1e-300);
  } else {
    out["posterior_score"] = nullptr;  // undefined at sigma = 0
    out["posterior_score_direct"] = nullptr;
    out["score_relative_difference"] = nullptr;
  }
  // Everything finite was validated at the input; a non-finite result is a numerical failure (exit 1).
  for (const char* key : {"mu_star", "x_tilde", "posterior_mean"})
    for (const json& v : out[key])
      EPS_CHECK(v.is_number() && std::isfinite(v.get<double>()), domain_error, "eps posterior: ", key,
                " is not finite (a numerical failure; please report the problem file)");
  return out;
}

namespace {

int run_posterior(const PosteriorOptions& o) {
  const std::string text = posterior_of(jsonio::parse_file(o.problem)).dump(1) + "\n";
  if (o.out.empty())
    std::cout << text;
  else
    write_file_atomic(o.out, text);
  return 0;
}

}  // namespace

void add_posterior_command(CLI::App& app) {
  auto o = std::make_shared<PosteriorOptions>();
  auto* c = app.add_subcommand(
      "posterior", "Exact posterior quantities of one problem read from JSON (schema: docs/gmm_benchmark.md)");
  c->add_option("--problem", o->problem, "Problem file (JSON)")->required()->check(CLI::ExistingFile);
  c->add_option("--out", o->out, "Write the result here (atomically) instead of stdout");
  c->callback([o] { throw CommandResult{run_posterior(*o)}; });
}

}  // namespace eps::cli
