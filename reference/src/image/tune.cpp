// SPDX-License-Identifier: MIT
// `eps image tune` (docs/evaluation.md §4): each method's knobs swept per task on the validation split
// (validation images 1000 … 1999: never trained on, not behind the training's validation loss), never on test
// images. Coordinate-wise: the knobs with a sweep in the registry (methods.hpp), one after the other, each
// set to the value of the best mean PSNR of one sample (clamped to [−1, 1]) with the others at their current
// values; a knob keeps its default unless another value beats it by more than one standard error of the
// difference. Writes the chosen values (format eps.tuned; `eps image eval` reads MODELS/tuned.json by
// default) and the sweep's table.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "eval.hpp"
#include "util.hpp"

namespace eps::cli::eval {
namespace {

struct TuneOptions {
  EvalOptions e;
  std::string file = "models/tuned.json", table = "";
};

/// Mean PSNR per image (clamped samples, averaged over seeds) of a part.
std::vector<double> psnrs(const Part& p, const TaskData& td, std::int64_t seeds) {
  const Tn s = p.samples.clamp(-1, 1);
  const Tn truth = td.x0.to(at::kCPU, at::kFloat).repeat_interleave(seeds, 0);
  const Tn v = psnr_per_image(s, truth).view({-1, seeds}).mean(1);
  return {v.data_ptr<double>(), v.data_ptr<double>() + v.numel()};
}

std::string fmt(double v, int prec) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

int run_tune(TuneOptions t) {
  EvalOptions& o = t.e;
  o.split = Split::val;  // never the test images
  o.batch1 = false;
  Session ss(o, false);
  Context ctx{o, ss.device, ss.models, *ss.settings};
  const std::vector<Task> tasks = tasks_from_flag(o.tasks);
  json values = json::object(), sweeps = json::array();
  std::ostringstream md;
  md << "| task | method | knob | value | mean PSNR ± SE (dB) | chosen |\n|---|---|---|---|---|---|\n";
  for (const Task task : tasks) {
    const std::string tn = eps::to_string(task);
    const TaskData td = ss.task_data(task);
    for (const Run& base : ss.runs(task)) {
      const methods::Spec& spec = methods::find(base.method);
      // EPS's knob is σ_max of the 1-NFE estimate: swept at 1 NFE; other methods at their largest budget.
      if (base.method == "eps" && base.nfe != 1) continue;
      bool has_sweep = false;
      for (const auto& k : spec.knobs) has_sweep = has_sweep || !k.sweep.empty();
      if (!has_sweep) continue;
      methods::Knobs cur = ss.settings->knobs(base.family, tn);
      std::vector<double> cur_psnr;
      for (const methods::Knob& k : spec.knobs) {
        if (k.sweep.empty()) continue;
        std::vector<std::pair<double, std::vector<double>>> results;
        for (double v : k.sweep) {
          Run r = base;
          r.knobs = cur;
          (*r.knobs)[k.name] = v;
          const Part p = run_method(r, ctx, td);
          results.emplace_back(v, psnrs(p, td, o.seeds));
        }
        // The current value is the reference (the default on the first pass); another value is chosen only
        // when it beats the reference by more than one standard error of the paired difference.
        const auto ref_it =
            std::find_if(results.begin(), results.end(), [&](const auto& r) { return r.first == cur.at(k.name); });
        std::size_t best = ref_it == results.end() ? 0 : static_cast<std::size_t>(ref_it - results.begin());
        const std::vector<double> ref = results[best].second;
        double best_gain = 0;
        for (std::size_t i = 0; i < results.size(); ++i) {
          std::vector<double> d;
          for (std::size_t j = 0; j < ref.size(); ++j) d.push_back(results[i].second[j] - ref[j]);
          const MeanSe g = mean_se(d);
          if (g.mean > best_gain && g.mean > (std::isfinite(g.se) ? g.se : 0)) {
            best_gain = g.mean;
            best = i;
          }
        }
        cur[k.name] = results[best].first;
        cur_psnr = results[best].second;
        for (std::size_t i = 0; i < results.size(); ++i) {
          const MeanSe m = mean_se(results[i].second);
          sweeps.push_back({{"task", tn},
                            {"method", base.id()},
                            {"knob", k.name},
                            {"value", results[i].first},
                            {"psnr", m.mean},
                            {"psnr_se", m.se},
                            {"chosen", i == best}});
        }
      }
      json chosen = json::object();
      for (const auto& k : spec.knobs)
        if (!k.sweep.empty()) chosen[k.name] = cur.at(k.name);
      values[base.family][tn] = chosen;
      std::cout << tn << " " << base.id() << ": " << chosen.dump() << " (mean PSNR " << fmt(mean_se(cur_psnr).mean, 2)
                << " dB)\n";
    }
  }
  // Methods not tuned in this run keep their values (and sweeps) from an existing file tuned for the same
  // prior, so that methods can be tuned one run at a time (the EPS models, say, once they are trained).
  const std::string prior_hash = fs::exists(ss.prior) ? ss.models.hash(ss.prior) : "";
  if (fs::exists(t.file)) {
    json old;
    try {
      old = json::parse(read_file(t.file));
    } catch (const std::exception& e) {
      detail::raise<io_error>("--file '", t.file, "' exists but is not readable JSON (", e.what(),
                              "): move it away or choose another --file");
    }
    EPS_CHECK(old.value("format", "") == "eps.tuned", io_error, "--file '", t.file,
              "' exists but is not an eps.tuned file: move it away or choose another --file");
    if (old.value("prior", "") == prior_hash && old.value("split", "") == to_string(o.split)) {
      std::vector<std::string> kept;  // "family/task"
      const json old_values = old.value("values", json::object()), old_sweeps = old.value("sweeps", json::array());
      for (const auto& [family, per_task] : old_values.items())
        for (const auto& [task, knobs] : per_task.items())
          if (!values.contains(family) || !values[family].contains(task)) {
            values[family][task] = knobs;
            kept.push_back(family + "/" + task);
          }
      for (const auto& sw : old_sweeps) {
        const std::string m = sw.value("method", ""), task = sw.value("task", "");
        if (std::any_of(kept.begin(), kept.end(),
                        [&](const std::string& k) { return m.substr(0, m.find('@')) + "/" + task == k; }))
          sweeps.push_back(sw);
      }
      if (!kept.empty()) {
        std::cout << "kept from " << t.file << ":";
        for (const auto& k : kept) std::cout << " " << k;
        std::cout << "\n";
      }
    } else {
      std::cerr << "eps image tune: replacing " << t.file << " (tuned for another prior or split)\n";
    }
  }
  const auto num = [](const json& j, const char* key) {  // a NaN is written to the file as null
    return j.at(key).is_number() ? j.at(key).get<double>() : std::nan("");
  };
  for (const auto& sw : sweeps) {
    std::ostringstream v;
    v << num(sw, "value");
    md << "| " << sw.at("task").get<std::string>() << " | " << sw.at("method").get<std::string>() << " | "
       << sw.at("knob").get<std::string>() << " | " << v.str() << " | " << fmt(num(sw, "psnr"), 2) << " ± "
       << fmt(num(sw, "psnr_se"), 2) << " | " << (sw.at("chosen").get<bool>() ? "**yes**" : "") << " |\n";
  }
  const json doc{{"format", "eps.tuned"},
                 {"about", "knob values chosen by `eps image tune` on the validation split (docs/evaluation.md §4)"},
                 {"prior", prior_hash},
                 {"split", to_string(o.split)},
                 {"first", o.first},
                 {"images", o.images},
                 {"seeds", o.seeds},
                 {"budgets", {{"eps", o.eps_nfe}, {"baseline", o.baseline_nfe}, {"dps", o.dps_nfe}}},
                 {"values", values},
                 {"sweeps", sweeps}};
  write_file_atomic(t.file, doc.dump(1) + "\n");
  const std::string table = t.table.empty() ? (fs::path(o.out) / "tuning.md").string() : t.table;
  write_file_atomic(table, "# eps image tune (validation images " + std::to_string(1000 + o.first) + "–" +
                               std::to_string(1000 + o.first + o.images - 1) + ", " + std::to_string(o.seeds) +
                               " seed(s))\n\n" + md.str());
  std::cout << md.str() << "wrote " << t.file << ", " << table << "\n";
  return 0;
}

}  // namespace
}  // namespace eps::cli::eval

namespace eps::cli {

void add_image_tune_command(CLI::App& image) {
  using namespace eval;
  auto t = std::make_shared<TuneOptions>();
  t->e.split = Split::val;
  t->e.images = 16;
  t->e.seeds = 1;
  t->e.batch = 64;
  t->e.eps_nfe = {1};
  t->e.out = "runs/tune";
  t->e.methods = {"eps_multitask", "dps", "pigdm", "ddnm", "daps", "mpgd"};
  t->e.tuned = "none";
  CLI::App* c = image.add_subcommand(
      "tune", "Sweep each method's knobs per task on the validation split and write the chosen values");
  add_common_options(c, t->e);
  c->add_option("--methods", t->e.methods, "Methods to tune (those with a sweep in the registry)")->delimiter(',');
  c->add_option("--file", t->file, "Where the chosen values go (eps image eval reads MODELS/tuned.json)");
  c->add_option("--table", t->table, "Markdown table of the sweep (default OUT/tuning.md)");
  c->add_option("--out", t->e.out, "Directory of the sweep's cached samples");
  c->callback([t] { throw CommandResult{run_tune(*t)}; });
}

}  // namespace eps::cli
