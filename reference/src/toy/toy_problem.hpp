// SPDX-License-Identifier: MIT
// Gaussian-mixture inverse problems for `eps toy gmm` and `eps posterior`: drawing them (the MCGdiff
// protocol and its fixed-σ_y variant), and reading/writing them as JSON with validation that names the
// offending field. Schema: docs/gmm_benchmark.md.
#pragma once

#include <Eigen/Dense>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "eps/analytic/gaussian_mixture.hpp"
#include "eps/analytic/isotropic_mixture.hpp"
#include "eps/error.hpp"
#include "util.hpp"

namespace eps::cli {

using Mat = Eigen::MatrixXd;
using Vec = Eigen::VectorXd;
using json = nlohmann::json;

/// One benchmark problem: an isotropic mixture prior, y = A x* + σ_y n.
struct ToyProblem {
  std::string id;
  std::string protocol;  ///< "fixed" (σ_y given), "mcgdiff" (σ_y = rand·max s), or "file"
  std::uint64_t seed = 0;
  analytic::IsotropicMixture prior;
  Mat A;  ///< d_y × d
  double sigma_y = 0;
  Mat y;  ///< d_y × 1
  std::optional<Vec> x_star;
  Eigen::Index d() const { return A.cols(); }
  Eigen::Index dy() const { return A.rows(); }
};

/// The MCGdiff benchmark's problem distribution (benchopts_inverse_problem_diffusion_prior):
/// 25 components with means (s·8i, s·8j, s·8i, s·8j, …), i, j ∈ {−2, …, 2} (s = −1 for "mcgdiff", +1 for
/// "fixed"), identity covariances, weights randn(25)² normalised; A = U diag(sort(rand(d_y), desc)) V[:d_y]
/// from the SVD of randn(d_y, d); x* ~ prior; σ_y = rand()·max(s) ("mcgdiff") or the given value ("fixed");
/// y = A x* + σ_y randn(d_y). Our random streams are std::mt19937_64(seed), not torch's.
inline ToyProblem draw_problem(const std::string& protocol, Eigen::Index d, Eigen::Index dy, double sigma_y,
                               std::uint64_t seed) {
  EPS_CHECK(protocol == "fixed" || protocol == "mcgdiff", value_error,
            "--protocol: expected 'fixed' or 'mcgdiff', got '", protocol, "'");
  EPS_CHECK(d >= 2 && dy >= 1 && dy <= d, value_error, "problem size: need d >= 2 and 1 <= d_y <= d, got d = ", d,
            ", d_y = ", dy);
  std::mt19937_64 gen(seed);
  std::normal_distribution<double> n01;
  std::uniform_real_distribution<double> u01(0.0, 1.0);
  const double sign = protocol == "mcgdiff" ? -1.0 : 1.0;
  Mat means(d, 25);
  std::vector<double> w(25), c(25, 1.0);
  int k = 0;
  for (int i = -2; i <= 2; ++i)
    for (int j = -2; j <= 2; ++j, ++k)
      for (Eigen::Index r = 0; r < d; ++r) means(r, k) = sign * 8.0 * (r % 2 == 0 ? i : j);
  for (double& v : w) {
    const double z = n01(gen);
    v = z * z;
  }
  analytic::IsotropicMixture prior(w, means, c);
  Mat g(dy, d);
  for (Eigen::Index i = 0; i < g.size(); ++i) g.data()[i] = n01(gen);
  Eigen::JacobiSVD<Mat> svd(g, Eigen::ComputeThinU | Eigen::ComputeThinV);
  std::vector<double> s(static_cast<std::size_t>(dy));
  for (double& v : s) v = u01(gen);
  std::sort(s.begin(), s.end(), std::greater<>());
  const Vec sv = Eigen::Map<const Vec>(s.data(), dy);
  const Mat A = svd.matrixU() * sv.asDiagonal() * svd.matrixV().transpose();
  const Vec x_star = prior.sample(1, gen).col(0);
  const double sy = protocol == "mcgdiff" ? u01(gen) * s.front() : sigma_y;
  EPS_CHECK(sy >= 0 && std::isfinite(sy), value_error, "--sigma-y must be finite and >= 0, got ", sy);
  Vec noise(dy);
  for (auto& v : noise) v = n01(gen);
  ToyProblem p{"", protocol, seed, std::move(prior), A, sy, Mat(A * x_star + sy * noise), x_star};
  p.id = protocol + "-d" + std::to_string(d) + "-dy" + std::to_string(dy) + "-seed" + std::to_string(seed);
  return p;
}

namespace jsonio {

[[noreturn]] inline void bad(const std::string& field, const std::string& what) {
  eps::detail::raise<value_error>(field, ": ", what);
}

/// The largest magnitude a number of a problem file may have: products of up to three inputs (A C Aᵀ,
/// α² σ_y², ...) then stay finite in double precision.
inline constexpr double max_magnitude = 1e100;

inline double number(const json& j, const std::string& field) {
  if (!j.is_number()) bad(field, "expected a number, got " + std::string(j.type_name()));
  const double v = j.get<double>();
  if (!std::isfinite(v)) bad(field, "expected a finite number");
  if (std::abs(v) > max_magnitude)
    bad(field,
        "expected a number of magnitude at most 1e100 (larger values overflow double precision in the "
        "posterior), got " +
            json(v).dump());
  return v;
}

/// Parses a JSON file. Syntax errors and numbers that double precision cannot hold (1e999) are
/// value_errors naming the file and the field being read ("prior.means[0][2]"), with the parser's reason.
inline json parse_text(const std::string& text, const std::string& path);
inline json parse_file(const std::string& path) { return parse_text(read_file(path), path); }

/// The same for JSON text read from `path` (named in the errors).
inline json parse_text(const std::string& text, const std::string& path) {
  struct Frame {
    bool array;
    std::string key;
    long index = -1;
  };
  std::vector<Frame> stack;
  const auto element = [&] {
    if (!stack.empty() && stack.back().array) ++stack.back().index;
  };
  const auto where = [&] {
    std::string p;
    for (std::size_t i = 0; i < stack.size(); ++i) {
      const Frame& f = stack[i];
      // Appended piece by piece: GCC 12 warns (-Wrestrict, a false positive: its bug 105651) on "[" + string&&.
      if (f.array) {
        p += '[';
        p += std::to_string(f.index + (i + 1 == stack.size() ? 1 : 0));
        p += ']';
      } else if (!f.key.empty()) {
        if (!p.empty()) p += '.';
        p += f.key;
      }
    }
    return p.empty() ? std::string("(top level)") : p;
  };
  const json::parser_callback_t track = [&](int, json::parse_event_t ev, json& parsed) {
    switch (ev) {
      case json::parse_event_t::object_start:
        element();
        stack.push_back({false, {}});
        break;
      case json::parse_event_t::array_start:
        element();
        stack.push_back({true, {}});
        break;
      case json::parse_event_t::object_end:
      case json::parse_event_t::array_end:
        if (!stack.empty()) stack.pop_back();
        break;
      case json::parse_event_t::key:
        if (!stack.empty()) stack.back().key = parsed.get<std::string>();
        break;
      case json::parse_event_t::value:
        element();
        break;
    }
    return true;
  };
  try {
    return json::parse(text, track);
  } catch (const json::out_of_range& e) {
    eps::detail::raise<value_error>(path, ": ", where(), ": a number that double precision cannot hold (", e.what(),
                                    ")");
  } catch (const json::exception& e) {
    eps::detail::raise<value_error>(path, ": not valid JSON near ", where(), ": ", e.what());
  }
}

/// j[key], or a named error. `key` and `where` are views (not references), so that callers may bind the result,
/// which lives in `j`, to a reference while passing temporaries for them.
inline const json& member(const json& j, std::string_view key, std::string_view where) {
  const std::string k(key), w(where);
  if (!j.is_object()) bad(w, "expected an object");
  const auto it = j.find(k);
  if (it == j.end()) bad(w.empty() ? k : w + "." + k, "missing");
  return *it;
}

inline Vec vector(const json& j, const std::string& field, Eigen::Index size = -1) {
  if (!j.is_array()) bad(field, "expected an array of numbers, got " + std::string(j.type_name()));
  if (size >= 0 && static_cast<Eigen::Index>(j.size()) != size)
    bad(field, "expected " + std::to_string(size) + " numbers, got " + std::to_string(j.size()));
  if (j.empty()) bad(field, "expected a non-empty array");
  Vec v(static_cast<Eigen::Index>(j.size()));
  for (std::size_t i = 0; i < j.size(); ++i)
    v(static_cast<Eigen::Index>(i)) = number(j[i], field + "[" + std::to_string(i) + "]");
  return v;
}

/// A matrix as an array of rows.
inline Mat matrix(const json& j, const std::string& field, Eigen::Index rows = -1, Eigen::Index cols = -1) {
  if (!j.is_array() || j.empty()) bad(field, "expected a non-empty array of rows");
  if (rows >= 0 && static_cast<Eigen::Index>(j.size()) != rows)
    bad(field, "expected " + std::to_string(rows) + " rows, got " + std::to_string(j.size()));
  const Eigen::Index r = static_cast<Eigen::Index>(j.size());
  Mat m;
  for (Eigen::Index i = 0; i < r; ++i) {
    const Vec row = vector(j[static_cast<std::size_t>(i)], field + "[" + std::to_string(i) + "]",
                           cols >= 0 ? cols : (i ? m.cols() : -1));
    if (i == 0) m.resize(r, row.size());
    m.row(i) = row.transpose();
  }
  return m;
}

inline json to_json(const Vec& v) { return std::vector<double>(v.data(), v.data() + v.size()); }
inline json to_json_rows(const Mat& m) {
  json a = json::array();
  for (Eigen::Index i = 0; i < m.rows(); ++i) a.push_back(to_json(Vec(m.row(i).transpose())));
  return a;
}
}  // namespace jsonio

/// A mixture prior from JSON: {"weights": [K], "means": [[d] × K], "covariances": [K numbers] (c_k I) or
/// [[[d] × d] × K] (full, symmetric positive definite)}. `field` prefixes error messages.
struct PriorJson {
  std::vector<double> weights;
  std::vector<Vec> means;
  std::vector<Mat> covariances;                  // full
  std::optional<std::vector<double>> variances;  // when every covariance is c_k I
};

inline PriorJson read_prior(const json& j, const std::string& field) {
  using namespace jsonio;
  PriorJson p;
  const Vec w = vector(member(j, "weights", field), field + ".weights");
  for (Eigen::Index k = 0; k < w.size(); ++k) {
    if (w(k) < 0) bad(field + ".weights[" + std::to_string(k) + "]", "must be >= 0");
    p.weights.push_back(w(k));
  }
  const Eigen::Index K = w.size();
  const Mat means = matrix(member(j, "means", field), field + ".means", K);
  const Eigen::Index d = means.cols();
  for (Eigen::Index k = 0; k < K; ++k) p.means.emplace_back(means.row(k).transpose());
  const json& cj = member(j, "covariances", field);
  if (!cj.is_array() || static_cast<Eigen::Index>(cj.size()) != K)
    bad(field + ".covariances",
        "expected an array of " + std::to_string(K) + " entries (numbers c_k for c_k I, or d x d matrices)");
  bool iso = true;
  std::vector<double> var;
  for (Eigen::Index k = 0; k < K; ++k) {
    const std::string f = field + ".covariances[" + std::to_string(k) + "]";
    const json& e = cj[static_cast<std::size_t>(k)];
    Mat C;
    if (e.is_number()) {
      const double c = number(e, f);
      if (!(c > 0)) bad(f, "a variance must be > 0");
      C = c * Mat::Identity(d, d);
      var.push_back(c);
    } else {
      C = matrix(e, f, d, d);
      if ((C - C.transpose()).cwiseAbs().maxCoeff() > 1e-10 * C.cwiseAbs().maxCoeff()) bad(f, "not symmetric");
      Eigen::LLT<Mat> llt(C);
      if (llt.info() != Eigen::Success) bad(f, "not positive definite");
      const double c = C(0, 0);
      if ((C - c * Mat::Identity(d, d)).cwiseAbs().maxCoeff() == 0)
        var.push_back(c);
      else
        iso = false;
    }
    p.covariances.push_back(std::move(C));
  }
  if (iso) p.variances = var;
  return p;
}

inline json prior_to_json(const analytic::IsotropicMixture& p) {
  json m = json::array();
  for (Eigen::Index k = 0; k < p.means().cols(); ++k) m.push_back(jsonio::to_json(Vec(p.means().col(k))));
  return {{"weights", p.weights()}, {"means", m}, {"covariances", p.variances()}};
}

/// Problems file: {"format": "eps.gmm_problems", "version": 1, "problems": [ {id, weights, means,
/// covariances, A, sigma_y, y, [x_star], [protocol], [seed]} ]}.
inline json problems_to_json(const std::vector<ToyProblem>& ps) {
  json arr = json::array();
  for (const ToyProblem& p : ps) {
    json j = prior_to_json(p.prior);
    j["id"] = p.id;
    j["protocol"] = p.protocol;
    j["seed"] = p.seed;
    j["A"] = jsonio::to_json_rows(p.A);
    j["sigma_y"] = p.sigma_y;
    j["y"] = jsonio::to_json(Vec(p.y.col(0)));
    if (p.x_star) j["x_star"] = jsonio::to_json(*p.x_star);
    arr.push_back(std::move(j));
  }
  return {{"format", "eps.gmm_problems"}, {"version", 1}, {"problems", arr}};
}

inline std::vector<ToyProblem> problems_from_json(const json& root) {
  using namespace jsonio;
  if (!root.is_object()) bad("(top level)", "expected an object with \"problems\"");
  if (root.contains("format") && root["format"] != "eps.gmm_problems")
    bad("format", "expected \"eps.gmm_problems\", got " + root["format"].dump());
  const json& arr = member(root, "problems", "");
  if (!arr.is_array() || arr.empty()) bad("problems", "expected a non-empty array");
  std::vector<ToyProblem> out;
  for (std::size_t i = 0; i < arr.size(); ++i) {
    const std::string f = "problems[" + std::to_string(i) + "]";
    const json& j = arr[i];
    const PriorJson pr = read_prior(j, f);
    if (!pr.variances)
      bad(f + ".covariances",
          "the benchmark needs isotropic components (c_k I): give numbers, or matrices equal to c I");
    const Eigen::Index d = pr.means[0].size();
    Mat means(d, static_cast<Eigen::Index>(pr.means.size()));
    for (std::size_t k = 0; k < pr.means.size(); ++k) means.col(static_cast<Eigen::Index>(k)) = pr.means[k];
    const Mat A = matrix(member(j, "A", f), f + ".A", -1, d);
    const double sy = number(member(j, "sigma_y", f), f + ".sigma_y");
    if (sy < 0) bad(f + ".sigma_y", "must be >= 0");
    const Vec y = vector(member(j, "y", f), f + ".y", A.rows());
    std::optional<Vec> xs;
    if (j.contains("x_star")) xs = vector(j["x_star"], f + ".x_star", d);
    ToyProblem p{j.contains("id") && j["id"].is_string() ? j["id"].get<std::string>() : "file-" + std::to_string(i),
                 j.contains("protocol") && j["protocol"].is_string() ? j["protocol"].get<std::string>() : "file",
                 j.contains("seed") && j["seed"].is_number_unsigned() ? j["seed"].get<std::uint64_t>() : 0,
                 analytic::IsotropicMixture(pr.weights, means, *pr.variances),
                 A,
                 sy,
                 Mat(y),
                 xs};
    out.push_back(std::move(p));
  }
  return out;
}

}  // namespace eps::cli
