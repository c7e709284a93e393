// SPDX-License-Identifier: MIT
// `eps image eval`: the reports (docs/evaluation.md, "Outputs"). The metrics are data — one list drives the
// Markdown table, the CSV columns and the JSON rows — and the plots are one gnuplot script.
#include <algorithm>
#include <iomanip>
#include <sstream>

#include "eval.hpp"
#include "util.hpp"

namespace eps::cli::eval {
namespace {

/// One metric of the table: its CSV/JSON key, its Markdown header, its precision, and where a row holds it
/// (a mean ± standard error over images, or one number for the whole sample set).
struct Metric {
  std::string key, header;
  int precision;
  MeanSe Row::* with_se = nullptr;
  double Row::* value = nullptr;
  MeanSe get(const Row& r) const { return with_se ? r.*with_se : MeanSe{r.*value, NAN}; }
};

const std::vector<Metric>& metrics() {
  static const std::vector<Metric> m{{"psnr", "PSNR", 2, &Row::psnr},
                                     {"ssim", "SSIM", 3, &Row::ssim},
                                     {"psnr_mean", "PSNR (mean)", 2, &Row::psnr_mean},
                                     {"ssim_mean", "SSIM (mean)", 3, &Row::ssim_mean},
                                     {"crps", "CRPS", 4, &Row::crps},
                                     {"fd", "FD", 2, &Row::fd},
                                     {"consistency", "‖Ax̂−y‖/√m", 3, &Row::consistency}};
  return m;
}

std::string fmt(double v, int prec = 3) {
  if (!std::isfinite(v)) return std::isinf(v) ? "inf" : "";
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}
std::string fmt_se(const MeanSe& m, int prec) {
  if (!std::isfinite(m.mean)) return "–";
  return std::isfinite(m.se) ? fmt(m.mean, prec) + " ± " + fmt(m.se, prec) : fmt(m.mean, prec);
}
/// v to 4 significant digits, or `missing` where it is not finite (an empty CSV field, NaN for gnuplot).
std::string number_or(double v, const char* missing) {
  if (!std::isfinite(v)) return missing;
  std::ostringstream os;
  os << std::setprecision(4) << v;
  return os.str();
}
std::string sci(double v) { return number_or(v, ""); }
json number(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

std::string knobs_text(const json& k) {
  std::string s;
  for (const auto& [name, v] : k.items()) s += (s.empty() ? "" : " ") + name + "=" + number_or(v.get<double>(), "");
  return s;
}

std::string markdown(const std::vector<Row>& rows, const std::vector<Cost>& costs, const EvalOptions& o,
                     const std::map<std::string, Floors>& floors) {
  std::ostringstream md;
  std::string task;
  for (const Row& r : rows) {
    if (r.task != task) {
      task = r.task;
      const Floors& f = floors.at(task);
      md << "\n### " << task << " (σ_y = " << o.sigma_y << ", " << to_string(o.split) << " images " << o.first << "–"
         << o.first + o.images - 1 << " × " << o.seeds << " seeds; FD of " << o.images * o.seeds
         << " other images: " << fmt(f.others, 2) << ", of the truths: " << fmt(f.truths, 2) << ")\n\n| method | NFE |";
      for (const Metric& m : metrics()) md << " " << m.header << " |";
      md << " s/img b=1 | s/img b=" << std::min(o.batch, o.images * o.seeds) << " | knobs |\n|---|---|";
      for (std::size_t i = 0; i < metrics().size() + 3; ++i) md << "---|";
      md << "\n";
    }
    md << "| " << r.method << " | " << r.nfe << (r.vjp > 0 ? " (+" + std::to_string(r.vjp) + " VJP)" : "") << " |";
    for (const Metric& m : metrics()) md << " " << fmt_se(m.get(r), m.precision) << " |";
    md << " " << sci(r.seconds_b1) << " | " << sci(r.seconds) << " | " << knobs_text(r.knobs) << " |\n";
  }
  if (costs.empty()) return md.str();
  md << "\n### Cost (side by side; seconds per image are medians of interleaved runs)\n\n"
        "| task | EPS input per call, eps_input / plan (ms, b=1) | network eval (ms, b=1) | pivot share | "
        "EPS@20 / prior@20, b=1 | EPS@20 / prior@20, batch | DPS@250 / EPS@20, b=1 | DPS@250 / EPS@20, batch |\n"
        "|---|---|---|---|---|---|---|---|\n";
  for (const Cost& c : costs) {
    const auto find = [&](const std::string& id) -> const Row* {
      for (const Row& r : rows)
        if (r.task == c.task && r.method == id) return &r;
      return nullptr;
    };
    const Row *e = find("eps_multitask@20"), *dps = find("dps@250");
    const auto ratio = [](double a, double b) { return std::isfinite(a / b) ? fmt(a / b, 3) + "×" : std::string("–"); };
    md << "| " << c.task << " | " << fmt(c.pivot_full_s * 1e3, 3) << " / " << fmt(c.pivot_s * 1e3, 3) << " | "
       << fmt(c.network_s * 1e3, 2) << " | " << fmt(100 * c.pivot_s / c.network_s, 2) << " % | "
       << ratio(c.eps_b1, c.prior_b1) << " (" << sci(c.eps_b1) << " s) | " << ratio(c.eps_batch, c.prior_batch)
       << " (b=" << c.batch << ") | " << ratio(c.dps_b1, c.eps_b1) << " | "
       << (e && dps ? ratio(dps->seconds, e->seconds) : std::string("–")) << " |\n";
  }
  return md.str();
}

}  // namespace

std::string write_reports(const fs::path& out, const std::vector<Row>& rows, const std::vector<Cost>& costs,
                          const EvalOptions& o, const std::map<std::string, Floors>& floors, const json& config) {
  const std::string table = markdown(rows, costs, o, floors);
  const std::string legend =
      "Samples are clamped to [−1, 1] before every metric. PSNR/SSIM: mean ± standard error over images (single "
      "samples averaged over seeds; \"mean\": of the posterior mean over seeds); SSIM: 11x11 Gaussian window, sigma "
      "1.5, K1 0.01, K2 0.03, range 2; FD: Fréchet distance in the project's classifier features (not Inception "
      "FID) to " +
      std::to_string(o.fd_reference) + " test images, ± the standard deviation over " + std::to_string(o.fd_bootstrap) +
      " bootstrap replicates of the images (their seeds kept together); knobs: the method's settings (" +
      config.value("settings", "") + ")\n";
  write_file_atomic(out / "results.md", "# eps image eval\n" + table + "\n" + legend);
  // CSV and JSON from the same list of metrics.
  std::ostringstream csv;
  csv << "task,method,family,label,nfe,vjp";
  for (const Metric& m : metrics()) csv << "," << m.key << (m.with_se ? "," + m.key + "_se" : "");
  csv << ",sigma_y,seconds_per_image_b1,seconds_per_image,batch,split,first,images,seeds,knobs\n";
  csv << std::setprecision(10);
  json jrows = json::array();
  for (const Row& r : rows) {
    csv << r.task << "," << r.method << "," << r.family << "," << r.label << "," << r.nfe << "," << r.vjp;
    json j{{"task", r.task},   {"method", r.method}, {"family", r.family},
           {"label", r.label}, {"nfe", r.nfe},       {"vjp", r.vjp}};
    for (const Metric& m : metrics()) {
      const MeanSe v = m.get(r);
      csv << "," << sci(v.mean);
      if (m.with_se) {
        csv << "," << sci(v.se);
        j[m.key] = {{"mean", number(v.mean)}, {"se", number(v.se)}};
      } else {
        j[m.key] = number(v.mean);
      }
    }
    csv << "," << o.sigma_y << "," << sci(r.seconds_b1) << "," << r.seconds << "," << r.batch << ","
        << to_string(o.split) << "," << o.first << "," << o.images << "," << o.seeds << "," << knobs_text(r.knobs)
        << "\n";
    j["seconds_per_image_b1"] = number(r.seconds_b1);
    j["seconds_per_image"] = r.seconds;
    j["batch"] = r.batch;
    j["reused"] = r.reused;
    j["knobs"] = r.knobs;
    // Every image's PSNR and SSIM (over its seeds) and its posterior mean's PSNR, in the order of the split:
    // every method restores the same images from the same y, so differences between methods pair
    // (scripts/eval_table.py --paired).
    json pi = json::array(), si = json::array();
    for (double v : r.psnr_per_image) pi.push_back(number(v));
    for (double v : r.ssim_per_image) si.push_back(number(v));
    json pmi = json::array();
    for (double v : r.psnr_mean_per_image) pmi.push_back(number(v));
    j["per_image"] = {{"psnr", pi}, {"ssim", si}, {"psnr_mean", pmi}};
    // FD on each bootstrap replicate of the images (the same draws in every row: eval_table.py --paired --metric fd).
    json fb = json::array();
    for (double v : r.fd_replicates) fb.push_back(number(v));
    j["fd_bootstrap"] = fb;
    jrows.push_back(j);
  }
  write_file_atomic(out / "results.csv", csv.str());
  json jc = json::array();
  for (const Cost& c : costs)
    jc.push_back({{"task", c.task},
                  {"eps_input_seconds_b1", number(c.pivot_full_s)},
                  {"eps_input_plan_seconds_b1", number(c.pivot_s)},
                  {"network_seconds_b1", number(c.network_s)},
                  {"pivot_share", number(c.pivot_s / c.network_s)},
                  {"eps20_seconds_per_image_b1", number(c.eps_b1)},
                  {"prior20_seconds_per_image_b1", number(c.prior_b1)},
                  {"eps20_seconds_per_image_batch", number(c.eps_batch)},
                  {"prior20_seconds_per_image_batch", number(c.prior_batch)},
                  {"dps250_seconds_per_image_b1", number(c.dps_b1)},
                  {"batch", c.batch}});
  json jf = json::object(), jt = json::object();
  for (const auto& [t, v] : floors) {
    jf[t] = number(v.others);
    jt[t] = number(v.truths);
  }
  const json doc{{"config", config}, {"rows", jrows},
                 {"cost", jc},       {"fd_other_images", jf},
                 {"fd_truths", jt},  {"clamped", "samples clamped to [-1, 1] before every metric"}};
  write_file_atomic(out / "results.json", doc.dump(1) + "\n");
  return table + "\n" + legend;
}

void write_plots(const fs::path& dir, const std::vector<Row>& rows, const std::vector<std::string>& tasks) {
  const fs::path pd = dir / "plots";
  fs::create_directories(pd);
  // One colour and point type per family, the same in every plot, in the order the families first appear.
  std::vector<std::string> families;
  for (const Row& r : rows)
    if (std::find(families.begin(), families.end(), r.family) == families.end()) families.push_back(r.family);
  static const char* colours[] = {"#000000", "#7f7f7f", "#d62728", "#ff7f0e", "#8c564b", "#2ca02c", "#17becf",
                                  "#1f77b4", "#9467bd", "#bcbd22", "#e377c2", "#393b79", "#637939", "#843c39"};
  std::ostringstream gp;
  gp << "set terminal pngcairo noenhanced size 900,560 font 'sans,10'\nset grid\nset key outside right\n";
  for (const std::string& task : tasks) {
    std::ostringstream dat;
    std::vector<std::string> names;
    std::string pinv_psnr, pinv_fd;
    for (const std::string& f : families) {
      std::vector<const Row*> pts;
      for (const Row& r : rows)
        if (r.task == task && r.family == f) pts.push_back(&r);
      if (pts.empty()) continue;
      if (f == "pinv") {
        pinv_psnr = fmt(pts[0]->psnr.mean, 4);
        pinv_fd = fmt(pts[0]->fd.mean, 4);
        continue;
      }
      std::sort(pts.begin(), pts.end(), [](const Row* a, const Row* b) { return a->nfe < b->nfe; });
      dat << "# " << f << "\n";
      for (const Row* r : pts)
        dat << r->nfe << " " << fmt(r->psnr.mean, 4) << " " << number_or(r->fd.mean, "NaN") << "\n";
      dat << "\n\n";
      names.push_back(f);
    }
    const fs::path df = pd / ("nfe_" + task + ".dat");
    write_file_atomic(df, dat.str());
    // No FD plot where no row has one (a single image: the Fréchet distance needs two); gnuplot refuses a
    // plot whose points are all undefined.
    const bool any_fd =
        std::any_of(rows.begin(), rows.end(), [&](const Row& r) { return r.task == task && std::isfinite(r.fd.mean); });
    for (int col : {2, 3}) {
      if (col == 3 && !any_fd) continue;
      const std::string what = col == 2 ? "psnr" : "fd";
      gp << "set output '" << (pd / (what + "_" + task + ".png")).string() << "'\nset title '"
         << (col == 2 ? "PSNR of one posterior sample (dB), " : "Fréchet distance (classifier features), ") << task
         << "'\nset logscale x\nset xlabel 'NFE per sample'\nset ylabel '" << (col == 2 ? "PSNR (dB)" : "FD") << "'\n";
      gp << (col == 2 ? "set yrange [0:*]\n" : "set autoscale y\n") << "plot ";
      for (std::size_t i = 0; i < names.size(); ++i) {
        const auto k =
            static_cast<std::size_t>(std::find(families.begin(), families.end(), names[i]) - families.begin());
        gp << "'" << df.string() << "' index " << i << " using 1:" << col << " with linespoints lw 2 pt " << 4 + k % 10
           << " ps 1.5 lc rgb '" << colours[k % 14] << "' title '" << names[i] << "', ";
      }
      const std::string& pv = col == 2 ? pinv_psnr : pinv_fd;
      if (!pv.empty())
        gp << pv << " with lines dt 2 lw 2 lc rgb 'black' title 'A†y (" << pv << ")'\n";
      else
        gp << "NaN notitle\n";
      gp << "unset logscale\nset autoscale y\n";
    }
  }
  // Cost: seconds per image per run (mean over tasks), at batch 1 and at the run's batch.
  std::map<std::string, std::pair<double, double>> sum;
  std::map<std::string, int> cnt;
  std::vector<std::string> order;
  for (const Row& r : rows) {
    if (!cnt.count(r.method)) order.push_back(r.method);
    sum[r.method].first += r.seconds_b1;
    sum[r.method].second += r.seconds;
    ++cnt[r.method];
  }
  std::ostringstream cd;
  for (const std::string& m : order)
    cd << "\"" << m << "\" " << number_or(sum[m].first / cnt[m], "NaN") << " "
       << number_or(sum[m].second / cnt[m], "NaN") << "\n";
  const fs::path cf = pd / "cost.dat";
  write_file_atomic(cf, cd.str());
  gp << "set output '" << (pd / "cost.png").string()
     << "'\nset terminal pngcairo noenhanced size 1100,560 font 'sans,10'\n"
     << "set title 'wall time per image (mean over tasks)'\nset style data histogram\nset style histogram cluster gap "
        "1\n"
     << "set style fill solid 0.8 border -1\nset logscale y\nset format y '%g'\nunset xlabel\n"
     << "set ylabel 'seconds per image'\nset xtics rotate by -45\n"
     << "set datafile missing NaN\nplot '" << cf.string()
     << "' using 2:xtic(1) title 'batch 1', '' using 3 title 'run batch'\n";
  const fs::path script = pd / "plots.gp";
  write_file_atomic(script, gp.str());
  run_gnuplot(script, "eps image eval");
}

}  // namespace eps::cli::eval
