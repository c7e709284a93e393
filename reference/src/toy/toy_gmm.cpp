// SPDX-License-Identifier: MIT
// `eps toy gmm`: the exact Gaussian-mixture posterior benchmark (docs/math.md §9, last section; the MCGdiff
// protocol). On a mixture prior every denoiser is closed-form, so EPS, the baselines and the true
// posterior are compared with no training noise: sliced and max-sliced Wasserstein-2 distances from each
// method's samples to exact posterior samples, next to the Monte Carlo floor (a fresh set of exact
// samples), with NFE and wall time. Writes the table as CSV and JSON, and plots through gnuplot.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <iomanip>
#include <map>
#include <set>
#include <sstream>

#include "commands.hpp"
#include "eps/baselines.hpp"
#include "eps/eps.hpp"
#include "eps/metrics.hpp"
#include "eps/samplers.hpp"
#include "methods.hpp"
#include "toy_problem.hpp"
#include "util.hpp"

namespace eps::cli {
namespace {

namespace fs = std::filesystem;
using T = eigen::Tensor<double>;
using Op = Dense<T>;

/// The toy's rows: the floor, the registry's methods that need no trained network (methods.hpp), and EPS at
/// one evaluation scored as a posterior-mean estimate.
bool toy_offers(const methods::Spec& m) {
  return m.model == methods::Model::prior || m.model == methods::Model::eps || m.model == methods::Model::oracle;
}
std::vector<std::string> toy_methods() {
  std::vector<std::string> names{"floor"};
  for (const auto& m : methods::table())
    if (toy_offers(m)) names.push_back(m.name);
  names.push_back("eps_mean");
  return names;
}

struct ToyOptions {
  std::vector<int> d{8, 80, 800};
  std::vector<int> dy{1, 2, 4};
  std::vector<double> sigma_y{0.01, 0.1, 1.0};
  std::string protocol = "fixed";
  int seeds = 3;
  std::uint64_t seed = 1;
  std::vector<int> nfe{20, 100};
  int dps_nfe = 1000;
  std::vector<std::string> settings;            ///< --set METHOD.KNOB=VALUE
  std::map<std::string, methods::Knobs> knobs;  ///< parsed from settings
  std::vector<std::string> methods = toy_methods();
  int samples = 1000;
  int ref_samples = 10000;
  int projections = 1000;
  int max_sliced_directions = 100;
  std::string out = "toy_gmm";
  std::string problems_in, problems_out;
  std::string init = "noise";
  std::string sigma_max = "auto";    ///< the terminal noise ratio ς_max: a number, or "auto" (from the prior)
  double terminal_nats = 1e-4;       ///< "auto": the terminal mismatch bound KL(N(0, ς_max² I) ‖ p_ς_max)
  double rho = 7.0;                  ///< EDM grid exponent
  int floor_draws = 5;               ///< independent exact sample sets behind the floor's mean and spread
  std::string pigdm_variance = "1";  ///< ΠGDM's data variance v in r_t²: a number, or "prior"
  bool heun = false;                 ///< EDM Heun (2 NFE per step but the last) for the denoiser methods
  bool plots = true;
};

/// One row of the table.
struct Row {
  std::string problem, cell, method;
  Eigen::Index d = 0, dy = 0;
  double sigma_y = 0;
  std::uint64_t seed = 0;
  double sigma_max = 0;
  int nfe = 0, vjp = 0;
  double sw2 = NAN, max_sw2 = NAN, mean_rmse = NAN, seconds = 0;
  double floor_sd = NAN;  ///< floor rows: the SD of SW2 over the floor's independent draws
};

/// Random unit directions and the sorted projections of the reference set on each.
class Projector {
 public:
  Projector(const Mat& ref, int directions, std::uint64_t seed) {
    std::mt19937_64 gen(seed);
    std::normal_distribution<double> n01;
    theta_.resize(directions, ref.rows());
    for (Eigen::Index i = 0; i < theta_.size(); ++i) theta_.data()[i] = n01(gen);
    theta_ = theta_.rowwise().normalized().eval();
    sorted_ref_ = sorted_projections(ref);
  }
  /// (mean over all directions of W2²)^{1/2} and max over the first `max_dirs` directions of W2.
  std::pair<double, double> distances(const Mat& x, int max_dirs) const {
    const Mat p = sorted_projections(x);
    double acc = 0, best = 0;
    for (Eigen::Index k = 0; k < p.cols(); ++k) {
      const double w = wasserstein_1d_sorted(col(p, k), col(sorted_ref_, k), 2.0);
      acc += w * w;
      if (k < max_dirs) best = std::max(best, w);
    }
    return {std::sqrt(acc / double(p.cols())), best};
  }

 private:
  /// n × P: column k holds the sorted projections of the n samples on direction k (contiguous).
  Mat sorted_projections(const Mat& x) const {
    Mat p = x.transpose() * theta_.transpose();
    for (Eigen::Index k = 0; k < p.cols(); ++k) std::sort(p.col(k).data(), p.col(k).data() + p.rows());
    return p;
  }
  static std::span<const double> col(const Mat& m, Eigen::Index k) {
    return {m.col(k).data(), static_cast<std::size_t>(m.rows())};
  }
  Mat theta_;
  Mat sorted_ref_;
};

std::string cell_of(const ToyProblem& p, const ToyOptions& o) {
  std::ostringstream s;
  s << "d" << p.d() << "_dy" << p.dy();
  if (o.protocol == "fixed" && o.problems_in.empty()) s << "_sy" << p.sigma_y;
  return s.str();
}

/// The context the registry's entries run against (methods.hpp) on one toy problem: the analytic prior's
/// denoiser (with closed-form VJPs), EPS through the exact anisotropic denoiser at the pivot, the exact
/// posterior score (the oracle); EDM Euler, or Heun for the deterministic denoiser samplers with --heun
/// ((NFE + 1)/2 steps: 2 evaluations per step but the last); the data are unbounded (no clipping).
template <class EpsD, class OracleD>
struct ToyContext {
  using T = Mat;
  const VeEdm& s;
  const Op& A;
  const Mat& y;
  double sigma_y, sigma_max, sigma_data;
  const ToyOptions& o;
  const analytic::ScheduledDenoiser<analytic::IsotropicMixture, VeEdm>& iso;
  EpsD& eps_d;
  const OracleD& oracle_d;
  std::function<Mat(double)> start_fn;
  double data_min = -std::numeric_limits<double>::infinity(), data_max = std::numeric_limits<double>::infinity();
  StepCallback<Mat> cb = {};
  std::mt19937_64 g{0};

  void reseed(std::uint64_t seed) { g.seed(seed); }
  std::mt19937_64& gen() { return g; }
  EdmOptions edm(int nfe) const {
    EdmOptions e;
    e.steps = nfe;
    e.ratio_max = sigma_max;
    e.rho = o.rho;
    return e;
  }
  EdmOptions edm_ode(int nfe) const {
    EdmOptions e = edm(o.heun ? (nfe + 1) / 2 : nfe);
    e.heun = o.heun;
    return e;
  }
  Mat start(double t0) const { return start_fn(t0); }
  Mat pinv() const { return pinv_apply(A, y); }
  auto prior() const { return iso; }
  auto differentiable_prior() const { return iso; }
  auto eps_posterior() const { return std::ref(eps_d); }
  auto oracle() const { return std::cref(oracle_d); }
  auto palette_posterior() const {
    return [](const Mat&, double) -> Mat { detail::raise<value_error>("eps toy gmm has no Palette model"); };
  }
};

/// Runs every selected method on one problem.
/// With `keep`, also returns every method's samples and (in `ref_out`) the exact reference set.
std::vector<Row> run_problem(const ToyProblem& p, const ToyOptions& o, Progress& prog, long& done,
                             std::map<std::string, Mat>* keep, Mat* ref_out) {
  // The terminal noise level: given, or the smallest with a terminal mismatch below --terminal-nats; the VE
  // schedule spans exactly [0.002, sigma_max] (EDM's grid is clamped to the schedule's range).
  const double sigma_max =
      o.sigma_max == "auto" ? p.prior.terminal_noise_ratio(o.terminal_nats) : std::stod(o.sigma_max);
  EPS_CHECK(sigma_max > 0.002 && std::isfinite(sigma_max), value_error, "--sigma-max must be finite and > 0.002, got ",
            sigma_max);
  const VeEdm s{0.002, sigma_max};
  // ΠGDM's r_t² assumes data of variance v per coordinate: 1 as published, or this prior's mean variance
  // (1/d) tr Cov[x0] = (1/d)(Σ_k w_k (d c_k + ‖μ_k‖²) − ‖Σ_k w_k μ_k‖²).
  const double pigdm_variance = [&] {
    if (o.pigdm_variance != "prior") return std::stod(o.pigdm_variance);
    const auto& w = p.prior.weights();
    const Mat& mu = p.prior.means();
    Vec mean = Vec::Zero(p.d());
    double second = 0;
    for (std::size_t k = 0; k < w.size(); ++k) {
      const Eigen::Index kk = static_cast<Eigen::Index>(k);
      mean += w[k] * mu.col(kk);
      second += w[k] * (double(p.d()) * p.prior.variances()[k] + mu.col(kk).squaredNorm());
    }
    return (second - mean.squaredNorm()) / double(p.d());
  }();
  const Eigen::Matrix<double, -1, -1, Eigen::RowMajor> a_rows = p.A;
  const Op A(T{}, std::span<const double>(a_rows.data(), static_cast<std::size_t>(a_rows.size())), p.dy(),
             Shape{p.d()});
  const auto post = p.prior.posterior(p.A, p.y, p.sigma_y);
  std::mt19937_64 gen(p.seed * 7919 + 17);
  const Mat ref = post.sample(o.ref_samples, gen);
  const Projector proj(ref, o.projections, p.seed + 1);
  if (ref_out) *ref_out = ref;
  const Vec post_mean = post.mean();
  const std::string cell = cell_of(p, o);
  std::vector<Row> rows;
  const auto record = [&](const std::string& method, const Mat& x, int nfe, int vjp, double secs,
                          bool distances = true) {
    Row r{p.id, cell, method, p.d(), p.dy(), p.sigma_y, p.seed, sigma_max, nfe, vjp};
    if (distances) std::tie(r.sw2, r.max_sw2) = proj.distances(x, o.max_sliced_directions);
    r.mean_rmse = method == "eps_mean"
                      ? std::sqrt((x.colwise() - post_mean).colwise().squaredNorm().mean() / double(p.d()))
                      : (x.rowwise().mean() - post_mean).norm() / std::sqrt(double(p.d()));
    r.seconds = secs;
    rows.push_back(r);
    if (keep) (*keep)[method + (nfe > 1 ? "-" + std::to_string(nfe) : "")] = x;
    prog.update(++done);
  };
  const auto selected = [&](const std::string& m) {
    return std::find(o.methods.begin(), o.methods.end(), m) != o.methods.end();
  };
  analytic::ScheduledDenoiser<analytic::IsotropicMixture, VeEdm> iso{p.prior, s};
  auto exact = [&](const Pivot<Op>& pv) { return p.prior.denoise(pv); };
  auto eps_d = posterior_denoiser(s, A, p.y, p.sigma_y, exact);
  // The initial state at the top of a grid (time t0), the same for every method: 'noise' (the default) is
  // what every sampler does, σ(t0)·ε; 'exact' is a diagnostic that draws it from p(x_T | y) itself (α x0 + σ ε
  // with x0 from the exact posterior), which no user can do.
  const auto x_init = [&](double t0) {
    std::mt19937_64 g(p.seed * 104729 + 3);
    Mat x = initial_noise(s, t0, T{}, o.samples, Shape{p.d()}, g);
    if (o.init == "exact") x += coefficients(s, t0).alpha * post.sample(o.samples, g);
    return x;
  };

  if (selected("floor")) {
    // The Monte Carlo floor: SW2 of fresh exact sample sets of the methods' size, averaged over
    // --floor-draws independent sets; their SD says how far a method can be from the mean by chance.
    Stopwatch w;
    Mat f;
    double acc = 0, acc2 = 0, acc_max = 0;
    for (int k = 0; k < o.floor_draws; ++k) {
      f = post.sample(o.samples, gen);
      const auto [sw, mx] = proj.distances(f, o.max_sliced_directions);
      acc += sw;
      acc2 += sw * sw;
      acc_max += mx;
    }
    record("floor", f, 0, 0, w.seconds() / o.floor_draws);
    const double n = o.floor_draws;
    rows.back().sw2 = acc / n;
    rows.back().max_sw2 = acc_max / n;
    rows.back().floor_sd = n > 1 ? std::sqrt(std::max(0.0, (acc2 - acc * acc / n) / (n - 1))) : NAN;
  }
  // The registry's methods (methods.hpp) against this problem's context; the common initial state at every
  // budget, and a noise source per run.
  const auto oracle = [&](const Mat& x, double t) {
    const Coefficients c = coefficients(s, t);
    return Mat((x + c.sigma * c.sigma * post.score(x, c.alpha, c.sigma)) / c.alpha);
  };
  ToyContext<decltype(eps_d), decltype(oracle)> ctx{s, A,   p.y,   p.sigma_y, sigma_max, std::sqrt(pigdm_variance),
                                                    o, iso, eps_d, oracle,    x_init};
  const auto run = [&](const std::string& name, const std::string& row, int nfe) {
    Stopwatch w;
    ctx.reseed(p.seed * 31 + 5);
    methods::Knobs k = o.knobs.count(name) ? o.knobs.at(name) : methods::Knobs{};
    // The 1-NFE posterior mean is exact at the top of the grid (docs/math.md §4.1): here that is the
    // problem's σ_max (from the prior, or --sigma-max), not the registry's default for images (80).
    if (row == "eps_mean" && !k.count("sigma_max_1")) k["sigma_max_1"] = sigma_max;
    const auto r = methods::run(name, ctx, nfe, k);
    record(row, r.x, r.nfe, r.vjp, w.seconds(), row != "eps_mean");
  };
  for (const methods::Spec& m : methods::table()) {
    if (!selected(m.name) || !toy_offers(m)) continue;
    if (m.budget == methods::Budget::dps)
      run(m.name, m.name, o.dps_nfe);
    else
      for (int nfe : o.nfe) run(m.name, m.name, nfe);
  }
  if (selected("eps_mean")) run("eps", "eps_mean", 1);
  return rows;
}

std::string fmt(double v, int prec = 4) {
  if (!std::isfinite(v)) return "-";
  std::ostringstream s;
  s << std::setprecision(prec) << v;
  return s.str();
}

json row_json(const Row& r) {
  const auto num = [](double v) { return std::isfinite(v) ? json(v) : json(nullptr); };
  return {{"problem", r.problem},
          {"cell", r.cell},
          {"method", r.method},
          {"d", r.d},
          {"dy", r.dy},
          {"sigma_y", r.sigma_y},
          {"seed", r.seed},
          {"sigma_max", r.sigma_max},
          {"nfe", r.nfe},
          {"vjp", r.vjp},
          {"sw2", num(r.sw2)},
          {"max_sw2", num(r.max_sw2)},
          {"mean_rmse", num(r.mean_rmse)},
          {"seconds", r.seconds},
          {"floor_sd", num(r.floor_sd)}};
}

std::string rows_csv(const std::vector<Row>& rows) {
  std::ostringstream s;
  s << std::setprecision(10);
  s << "problem,cell,method,d,dy,sigma_y,seed,sigma_max,nfe,vjp,sw2,max_sw2,mean_rmse,seconds,floor_sd\n";
  const auto num = [](double v) {
    return std::isfinite(v) ? [&] {
      std::ostringstream t;
      t << std::setprecision(10) << v;
      return t.str();
    }()
                            : std::string();
  };
  for (const Row& r : rows)
    s << r.problem << "," << r.cell << "," << r.method << "," << r.d << "," << r.dy << "," << r.sigma_y << "," << r.seed
      << "," << r.sigma_max << "," << r.nfe << "," << r.vjp << "," << num(r.sw2) << "," << num(r.max_sw2) << ","
      << num(r.mean_rmse) << "," << r.seconds << "," << num(r.floor_sd) << "\n";
  return s.str();
}

struct Summary {
  std::string cell, method;
  int nfe;
  double sw2_mean, sw2_sd, max_mean, rmse_mean, seconds;
  int n;
  double ratio = NAN;  ///< mean over problems of SW2 / the problem's floor
  int at_floor = 0;    ///< problems where SW2 <= floor + 2 SD of the floor's draws
};

std::vector<Summary> summarize(const std::vector<Row>& rows) {
  std::map<std::string, const Row*> floors;  // per problem
  for (const Row& r : rows)
    if (r.method == "floor") floors[r.problem] = &r;
  std::map<std::tuple<std::string, std::string, int>, std::vector<const Row*>> g;
  std::vector<std::tuple<std::string, std::string, int>> order;
  for (const Row& r : rows) {
    auto key = std::make_tuple(r.cell, r.method, r.nfe);
    if (!g.count(key)) order.push_back(key);
    g[key].push_back(&r);
  }
  std::vector<Summary> out;
  for (const auto& key : order) {
    const auto& v = g[key];
    double a = 0, a2 = 0, m = 0, e = 0, sec = 0;
    for (const Row* r : v) {
      a += r->sw2;
      a2 += r->sw2 * r->sw2;
      m += r->max_sw2;
      e += r->mean_rmse;
      sec += r->seconds;
    }
    const double n = double(v.size());
    Summary su{std::get<0>(key),
               std::get<1>(key),
               std::get<2>(key),
               a / n,
               n > 1 ? std::sqrt(std::max(0.0, (a2 - a * a / n) / (n - 1))) : NAN,
               m / n,
               e / n,
               sec / n,
               static_cast<int>(v.size())};
    double ratio = 0;
    int with_floor = 0;
    for (const Row* r : v) {
      const auto f = floors.find(r->problem);
      if (f == floors.end() || !std::isfinite(r->sw2)) continue;
      ratio += r->sw2 / f->second->sw2;
      ++with_floor;
      const double sd = std::isfinite(f->second->floor_sd) ? f->second->floor_sd : 0.0;
      su.at_floor += r->sw2 <= f->second->sw2 + 2 * sd;
    }
    if (with_floor > 0) su.ratio = ratio / with_floor;
    out.push_back(su);
  }
  return out;
}

/// Per cell: distance against NFE per method (log x), floor dashed; and for the first problem a scatter of
/// the first two coordinates of each method's samples over the exact posterior samples.
void write_plots(const fs::path& dir, const std::vector<Summary>& sums,
                 const std::map<std::string, std::map<std::string, Mat>>& kept,
                 const std::map<std::string, Mat>& refs) {
  const fs::path pd = dir / "plots";
  fs::create_directories(pd);
  std::set<std::string> cells;
  for (const auto& s : sums) cells.insert(s.cell);
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size 900,560 font 'sans,10'\nset datafile missing '-'\n";
  for (const std::string& cell : cells) {
    std::map<std::string, std::vector<std::pair<int, double>>> lines;
    double floor = NAN;
    for (const auto& s : sums) {
      if (s.cell != cell || s.method == "eps_mean") continue;
      if (s.method == "floor")
        floor = s.sw2_mean;
      else
        lines[s.method].push_back({s.nfe, s.sw2_mean});
    }
    std::ostringstream dat;
    int idx = 0;
    std::vector<std::string> names;
    for (auto& [m, pts] : lines) {
      std::sort(pts.begin(), pts.end());
      dat << "# " << m << "\n";
      for (auto [n, v] : pts) dat << n << " " << v << "\n";
      dat << "\n\n";
      names.push_back(m);
      ++idx;
    }
    write_file_atomic(pd / ("sw_" + cell + ".dat"), dat.str());
    gp << "set output '" << (pd / ("sw_" + cell + ".png")).string() << "'\n"
       << "set title 'sliced W2 to the exact posterior, " << cell << " (mean over problems)'\n"
       << "set logscale x\nset logscale y\nset xlabel 'NFE per sample'\nset ylabel 'SW2'\nset key outside right\n"
       << "set grid\nplot ";
    for (int i = 0; i < idx; ++i)
      gp << "'" << (pd / ("sw_" + cell + ".dat")).string() << "' index " << i << " with linespoints lw 2 pt 7 title '"
         << names[static_cast<std::size_t>(i)] << "', ";
    if (std::isfinite(floor))
      gp << floor << " with lines dt 2 lw 2 lc rgb 'black' title 'MC floor'";
    else
      gp << "NaN notitle";
    gp << "\nunset logscale\nunset title\n";
    // Scatter of the first problem of the cell.
    const auto it = kept.find(cell);
    if (it == kept.end() || !refs.count(cell)) continue;
    const Mat& ref = refs.at(cell);
    std::ostringstream rd;
    for (Eigen::Index j = 0; j < std::min<Eigen::Index>(ref.cols(), 2000); ++j)
      rd << ref(0, j) << " " << ref(1, j) << "\n";
    write_file_atomic(pd / ("ref_" + cell + ".dat"), rd.str());
    const int n = static_cast<int>(it->second.size());
    const int cols = 3, rows_n = (n + cols - 1) / cols;
    gp << "set output '" << (pd / ("scatter_" + cell + ".png")).string() << "'\n"
       << "set terminal pngcairo noenhanced size 1200," << 380 * rows_n << " font 'sans,9'\n"
       << "set multiplot layout " << rows_n << "," << cols
       << " title 'coordinates (x_1, x_2): exact posterior (grey) and method samples, " << cell << "'\n"
       << "unset key\nset xlabel 'x_1'\nset ylabel 'x_2'\n";
    for (const auto& [m, x] : it->second) {
      std::ostringstream md;
      for (Eigen::Index j = 0; j < x.cols(); ++j) md << x(0, j) << " " << x(1, j) << "\n";
      const fs::path f = pd / ("samples_" + cell + "_" + m + ".dat");
      write_file_atomic(f, md.str());
      gp << "set title '" << m << "'\nplot '" << (pd / ("ref_" + cell + ".dat")).string()
         << "' with points pt 7 ps 0.3 lc rgb '#b0b0b0', '" << f.string()
         << "' with points pt 7 ps 0.3 lc rgb '#d62728'\n";
    }
    gp << "unset multiplot\nset terminal pngcairo noenhanced size 900,560 font 'sans,10'\n";
  }
  const fs::path script = pd / "plots.gp";
  write_file_atomic(script, gp.str());
  run_gnuplot(script, "eps toy gmm");
}

int run_toy(ToyOptions o) {
  Stopwatch total;
  const std::vector<std::string> all = toy_methods();
  std::string names;
  for (const auto& m : all) names += (names.empty() ? "" : ", ") + m;
  o.knobs = methods::parse_settings(o.settings);
  for (const std::string& m : o.methods)
    EPS_CHECK(std::find(all.begin(), all.end(), m) != all.end(), value_error, "--methods: unknown method '", m,
              "'; expected some of ", names);
  EPS_CHECK(o.samples >= 2 && o.ref_samples >= 2, value_error, "--samples and --ref-samples must be >= 2");
  EPS_CHECK(o.max_sliced_directions >= 1 && o.max_sliced_directions <= o.projections, value_error,
            "--max-sliced-directions must lie in [1, --projections]");
  std::vector<ToyProblem> problems;
  if (!o.problems_in.empty()) {
    problems = problems_from_json(jsonio::parse_file(o.problems_in));
  } else {
    for (int d : o.d)
      for (int dy : o.dy) {
        const std::vector<double> sys = o.protocol == "mcgdiff" ? std::vector<double>{NAN} : o.sigma_y;
        for (double sy : sys)
          for (int k = 0; k < o.seeds; ++k)
            problems.push_back(draw_problem(o.protocol, d, dy, sy, o.seed + static_cast<std::uint64_t>(k)));
      }
  }
  const fs::path out(o.out);
  if (!o.problems_out.empty()) write_file_atomic(o.problems_out, problems_to_json(problems).dump(1) + "\n");

  const long per_problem = static_cast<long>(o.methods.size() * o.nfe.size());
  Progress prog("eps toy gmm", per_problem * static_cast<long>(problems.size()));
  long done = 0;
  std::vector<Row> rows;
  std::map<std::string, std::map<std::string, Mat>> kept;
  std::map<std::string, Mat> refs;
  for (const ToyProblem& p : problems) {
    const std::string cell = cell_of(p, o);
    const bool first = !kept.count(cell) && o.plots;
    std::map<std::string, Mat> k;
    Mat ref;
    auto r = run_problem(p, o, prog, done, first ? &k : nullptr, first ? &ref : nullptr);
    if (first) {
      kept[cell] = std::move(k);
      refs[cell] = std::move(ref);  // the plot shows its first 2000 samples
      kept[cell].erase("eps_mean");
    }
    rows.insert(rows.end(), r.begin(), r.end());
  }
  const auto sums = summarize(rows);

  // Table.
  std::cout << "eps toy gmm: exact Gaussian-mixture posterior benchmark (" << problems.size() << " problems, protocol "
            << (o.problems_in.empty() ? o.protocol : "file " + o.problems_in) << ")\n"
            << "  samples " << o.samples << " per method; exact reference " << o.ref_samples << " samples; SW2 over "
            << o.projections << " random directions, max-SW2 over the first " << o.max_sliced_directions << "; EDM "
            << (o.heun ? "Heun" : "Euler") << " on the VE grid sigma_max -> 0.002, rho " << o.rho
            << "; initial state: " << o.init << "\n  sigma_max: "
            << (o.sigma_max == "auto" ? "from the prior (terminal mismatch <= " + fmt(o.terminal_nats) + " nats)"
                                      : o.sigma_max)
            <<
      [&] {
        std::set<double> v;
        for (const Row& r : rows) v.insert(r.sigma_max);
        std::string l = " =";
        for (double x : v) l += " " + fmt(x, 5);
        return l;
      }() << "\n";
  std::string last;
  for (const auto& s : sums) {
    if (s.cell != last) {
      std::cout << "\n  " << s.cell << "\n    " << std::left << std::setw(11) << "method" << std::right << std::setw(6)
                << "NFE" << std::setw(18) << "SW2 (mean±sd)" << std::setw(10) << "/floor" << std::setw(10) << "at floor"
                << std::setw(10) << "max-SW2" << std::setw(12) << "mean RMSE" << std::setw(10) << "time[s]"
                << "\n";
      last = s.cell;
    }
    std::ostringstream sw;
    sw << fmt(s.sw2_mean) << (std::isfinite(s.sw2_sd) ? "±" + fmt(s.sw2_sd, 2) : "");
    const std::string at =
        s.method == "floor" || !std::isfinite(s.ratio) ? "" : std::to_string(s.at_floor) + "/" + std::to_string(s.n);
    std::cout << "    " << std::left << std::setw(11) << s.method << std::right << std::setw(6) << s.nfe
              << std::setw(18) << sw.str() << std::setw(10) << (s.method == "floor" ? "" : fmt(s.ratio, 3))
              << std::setw(10) << at << std::setw(10) << fmt(s.max_mean) << std::setw(12) << fmt(s.rmse_mean)
              << std::setw(10) << fmt(s.seconds, 3) << "\n";
  }
  std::cout
      << "\n  floor: fresh sets of exact posterior samples (mean over " << o.floor_draws
      << " sets); /floor: SW2 over the\n"
      << "  problem's floor, averaged over problems; at floor: problems with SW2 <= floor + 2 SD of its sets;\n"
      << "  eps_mean: the 1-NFE posterior mean (its RMSE to E[x0|y]); mean RMSE of the other rows: |sample mean -\n"
      << "  E[x0|y]|/sqrt(d).\n";

  json j;
  j["settings"] = {{"protocol", o.problems_in.empty() ? o.protocol : "file"},
                   {"samples", o.samples},
                   {"ref_samples", o.ref_samples},
                   {"projections", o.projections},
                   {"max_sliced_directions", o.max_sliced_directions},
                   {"nfe", o.nfe},
                   {"dps_nfe", o.dps_nfe},
                   {"settings", o.settings},
                   {"schedule", "ve_edm"},
                   {"sampler", o.heun ? "edm_heun" : "edm_euler"},
                   {"init", o.init},
                   {"sigma_max", o.sigma_max},
                   {"terminal_nats", o.terminal_nats},
                   {"rho", o.rho},
                   {"floor_draws", o.floor_draws},
                   {"pigdm_variance", o.pigdm_variance}};
  j["rows"] = json::array();
  for (const Row& r : rows) j["rows"].push_back(row_json(r));
  j["summary"] = json::array();
  for (const auto& s : sums)
    j["summary"].push_back({{"cell", s.cell},
                            {"method", s.method},
                            {"nfe", s.nfe},
                            {"problems", s.n},
                            {"sw2_mean", std::isfinite(s.sw2_mean) ? json(s.sw2_mean) : json(nullptr)},
                            {"sw2_sd", std::isfinite(s.sw2_sd) ? json(s.sw2_sd) : json(nullptr)},
                            {"max_sw2_mean", std::isfinite(s.max_mean) ? json(s.max_mean) : json(nullptr)},
                            {"mean_rmse", s.rmse_mean},
                            {"seconds", s.seconds},
                            {"ratio_to_floor", std::isfinite(s.ratio) ? json(s.ratio) : json(nullptr)},
                            {"problems_at_floor", s.at_floor}});
  write_file_atomic(out / "results.json", j.dump(1) + "\n");
  write_file_atomic(out / "results.csv", rows_csv(rows));
  if (o.plots) write_plots(out, sums, kept, refs);
  std::cout << "  wrote " << (out / "results.csv").string() << ", " << (out / "results.json").string()
            << (o.plots ? ", plots in " + (out / "plots").string() : "") << "  (total " << fmt(total.seconds(), 3)
            << " s)\n";
  return 0;
}

/// A flag value that is `word`, or a finite number greater than `min`.
CLI::Validator word_or_number(std::string word, double min) {
  return CLI::Validator(
      [word, min](std::string& v) -> std::string {
        if (v == word) return {};
        try {
          std::size_t n = 0;
          const double x = std::stod(v, &n);
          if (n == v.size() && std::isfinite(x) && x > min) return {};
        } catch (const std::exception&) {
        }
        return "expected '" + word + "' or a number > " + fmt(min) + ", got '" + v + "'";
      },
      word + "|NUMBER");
}

}  // namespace

void add_toy_command(CLI::App& app) {
  auto* toy = app.add_subcommand("toy", "Analytic toy benchmarks");
  toy->require_subcommand(1);
  auto o = std::make_shared<ToyOptions>();
  auto* g =
      toy->add_subcommand("gmm", "Exact Gaussian-mixture posterior benchmark: EPS vs baselines vs the true posterior");
  g->add_option("--d", o->d, "Dimensions d_x (several allowed)")
      ->delimiter(',')
      ->check(CLI::Range(2, 100000))
      ->capture_default_str();
  g->add_option("--dy", o->dy, "Measurement dimensions d_y (several allowed)")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  g->add_option("--sigma-y", o->sigma_y, "Measurement noise levels (protocol 'fixed')")
      ->delimiter(',')
      ->check(CLI::Range(0.0, 1e6))
      ->capture_default_str();
  g->add_option("--protocol", o->protocol, "'fixed' (sigma_y from --sigma-y) or 'mcgdiff' (sigma_y = rand * max s)")
      ->check(CLI::IsMember({"fixed", "mcgdiff"}))
      ->capture_default_str();
  g->add_option("--seeds", o->seeds, "Problems per cell")->check(CLI::Range(1, 10000))->capture_default_str();
  g->add_option("--seed", o->seed, "First problem seed")->capture_default_str();
  g->add_option("--nfe", o->nfe, "NFE of every method but DPS (EDM Euler steps; DAPS: levels x ode steps)")
      ->delimiter(',')
      ->check(CLI::Range(1, 100000))
      ->capture_default_str();
  g->add_option("--dps-nfe", o->dps_nfe, "NFE of DPS")->check(CLI::Range(1, 100000))->capture_default_str();
  g->add_option("--set", o->settings, "METHOD.KNOB=VALUE: a knob of a method (methods.hpp; e.g. dps.zeta=0.5)")
      ->delimiter(',');
  g->add_option(
       "--methods", o->methods,
       "Methods: " +
           [] {
             std::string n;
             for (const auto& m : toy_methods()) n += (n.empty() ? "" : ", ") + m;
             return n;
           }())
      ->delimiter(',')
      ->capture_default_str();
  g->add_option("--samples", o->samples, "Samples per method")->check(CLI::Range(2, 10000000))->capture_default_str();
  g->add_option("--ref-samples", o->ref_samples, "Exact posterior samples of the reference set")
      ->check(CLI::Range(2, 10000000))
      ->capture_default_str();
  g->add_option("--projections", o->projections, "Random directions of the sliced distance")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  g->add_option("--max-sliced-directions", o->max_sliced_directions,
                "Directions of the max-sliced distance (the first of --projections)")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str();
  g->add_option("--init", o->init,
                "Initial state: 'noise' (sigma_max * eps, what samplers do) or 'exact' (a diagnostic: "
                "drawn from p(x_T | y))")
      ->check(CLI::IsMember({"exact", "noise"}))
      ->capture_default_str();
  g->add_option("--sigma-max", o->sigma_max,
                "Terminal noise level of every sampler: a number, or 'auto' (the smallest "
                "whose terminal mismatch with the prior is at most --terminal-nats)")
      ->check(word_or_number("auto", 0.002))
      ->capture_default_str();
  g->add_option("--terminal-nats", o->terminal_nats, "Terminal mismatch bound of --sigma-max auto (nats)")
      ->check(CLI::Range(1e-9, 1e3))
      ->capture_default_str();
  g->add_option("--rho", o->rho, "EDM grid exponent rho")->check(CLI::Range(1.0, 100.0))->capture_default_str();
  g->add_option("--pigdm-variance", o->pigdm_variance,
                "PiGDM's data variance v in r_t^2 = v s^2/(a^2 v + s^2): a number "
                "(1: the published choice) or 'prior' (the prior's mean variance per coordinate)")
      ->check(word_or_number("prior", 0.0))
      ->capture_default_str();
  g->add_option("--floor-draws", o->floor_draws, "Independent exact sample sets behind the floor")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  g->add_flag("--heun", o->heun,
              "EDM Heun for the deterministic denoiser samplers (eps, oracle, prior, zero_shot, pigdm with ddim=0; "
              "(NFE + 1)/2 steps)");
  g->add_option("--out", o->out, "Output directory (results.csv, results.json, plots/)")->capture_default_str();
  g->add_option("--problems", o->problems_in, "Read the problems from this JSON file instead of drawing them")
      ->check(CLI::ExistingFile);
  g->add_option("--write-problems", o->problems_out, "Write the problems to this JSON file (atomically)");
  g->add_flag("!--no-plots", o->plots, "Do not write plots");
  g->callback([o] { throw CommandResult{run_toy(*o)}; });
}

}  // namespace eps::cli
