#include "harness/report/report.h"

#include <algorithm>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "harness/files.h"
#include "harness/recorder.h"
#include "harness/report/failure.h"
#include "harness/report/junit.h"
#include "harness/report/plot.h"

namespace faultline::report {

namespace fs = std::filesystem;

// The same rules as XML text (junit.h): HTML5 knows &apos;, and the control characters XML
// drops are not allowed in HTML either.
std::string html_escape(std::string_view text) { return xml_escape(text); }

namespace {

std::string base64(const std::string& in) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += k[v & 63];
  }
  if (i + 1 == in.size()) {
    uint32_t v = uint8_t(in[i]) << 16;
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += "==";
  } else if (i + 2 == in.size()) {
    uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += k[v >> 18];
    out += k[(v >> 12) & 63];
    out += k[(v >> 6) & 63];
    out += '=';
  }
  return out;
}

std::string data_uri(const std::string& file_name, const std::string& bytes) {
  bool png = file_name.size() > 4 && file_name.substr(file_name.size() - 4) == ".png";
  return std::string("data:") + (png ? "image/png" : "image/svg+xml") + ";base64," + base64(bytes);
}

// JSON for a <script type="application/json"> element: "</" cannot close the element.
std::string script_json(const Json& j) {
  std::string s = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '<' && i + 1 < s.size() && s[i + 1] == '/') {
      out += "<\\/";
      ++i;
    } else {
      out += s[i];
    }
  }
  return out;
}

}  // namespace

std::string cut_text(std::string s, size_t n) {
  if (s.size() > n) {
    s.resize(n);
    // Do not leave half a UTF-8 character.
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
    if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80)) s.pop_back();
    s += "…";
  }
  return s;
}

namespace {

// Microseconds since the axis's origin (ops without a time: their index as ms, so that they
// still show in order).
int64_t rel_us(const Op& op, int64_t origin_ns) {
  return op.time_ns >= 0 ? (op.time_ns - origin_ns) / 1000 : op.index * 1000;
}

// Ops a checker's details name: objects with an integer "index" and a "process" and "f".
void collect_ops(const Json& j, std::map<int64_t, Json>* out) {
  if (out->size() >= 200) return;
  if (j.is_object()) {
    auto idx = j.find("index");
    if (idx != j.end() && idx->is_number_integer() && j.contains("process") && j.contains("f")) {
      (*out)[idx->get<int64_t>()] = j;
    }
    for (const auto& [k, v] : j.items()) collect_ops(v, out);
  } else if (j.is_array()) {
    for (const auto& v : j) collect_ops(v, out);
  }
}

const char* kStyle = R"CSS(
body{font:14px/1.4 system-ui,sans-serif;margin:0 auto;max-width:1200px;padding:0 16px 40px;color:#222}
h1{margin:16px 0 4px} h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:28px}
.verdict{padding:14px 18px;border-radius:6px;font-size:22px;font-weight:600;margin-top:16px}
.v-valid{background:#e3f6e7;color:#13621f;border:1px solid #9bd3a6}
.v-invalid{background:#fde6e5;color:#8e1b14;border:1px solid #f0a39e}
.v-unknown{background:#fff4d6;color:#7a5300;border:1px solid #f0d07a}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600}
.note{background:#fff8e1;border-left:4px solid #f0b400;padding:6px 10px;margin:6px 0}
pre{background:#f6f8fa;padding:8px 10px;overflow:auto;white-space:pre-wrap;font-size:12.5px}
table.kv td{padding:1px 12px 1px 0;vertical-align:top} code{font-size:12.5px}
.checker{border:1px solid #ddd;border-radius:6px;padding:4px 14px 10px;margin:12px 0}
img.plot{width:900px;max-width:100%;display:block;margin:8px 0;border:1px solid #eee}
img.graph{max-width:100%;border:1px solid #eee;background:#fff}
#tl-wrap{position:relative;height:75vh;overflow:auto;border:1px solid #ccc;background:#fff}
#tl-head{position:sticky;top:0;height:22px;background:#fafafa;z-index:3;border-bottom:1px solid #ccc}
.tlh{position:absolute;top:3px;font:11px monospace;text-align:center;overflow:hidden}
#tl{position:relative}
.op{position:absolute;overflow:hidden;font:10px/12px monospace;white-space:nowrap;box-sizing:border-box;
border:1px solid rgba(0,0,0,.25);border-radius:2px;padding:0 2px;z-index:1;cursor:pointer}
.ok{background:#6DB6FE}.fail{background:#FEB5DA}.info{background:#FFAA26}.nem{background:#ccc}
.open{background:#eee;border-style:dashed}
.hl{outline:3px solid #000;z-index:2}
.band{position:absolute;left:0;right:0;opacity:.2;z-index:0;pointer-events:auto}
.setup{position:absolute;left:0;top:0;height:16px;width:100%;white-space:nowrap;overflow:hidden;background:#e4e4e4;font:11px/16px monospace;color:#555;padding-left:4px;z-index:0;box-sizing:border-box}
.tick{position:absolute;left:2px;font:10px monospace;color:#888;border-top:1px dotted #ccc;width:100%;z-index:0}
.legend span{display:inline-block;padding:0 8px;margin-right:6px;border:1px solid rgba(0,0,0,.25);font:11px monospace}
)CSS";

// Draws only the blocks of the timeline near the scroll position (see report.h).
const char* kTimelineScript = R"JS(
(function(){
var D=JSON.parse(document.getElementById('tl-data').textContent);
var wrap=document.getElementById('tl-wrap'),tl=document.getElementById('tl'),hd=document.getElementById('tl-head');
var ops=D.ops,n=ops.length,span=Math.max(1,D.end);
var H=Math.min(3e6,Math.max(600,n*8)),k=H/span,W=120,L=80,B=800,TOP=D.setup>=0?20:4;
var cls=['ok','fail','info','nem','open'],names=['ok','fail','info','nemesis','open (no completion)'];
var width=(L+D.procs.length*W)+'px';
tl.style.height=(H+TOP+40)+'px';tl.style.width=width;hd.style.width=width;
D.procs.forEach(function(p,i){var h=document.createElement('div');h.className='tlh';
 h.style.left=(L+i*W)+'px';h.style.width=(W-4)+'px';h.textContent=p;hd.appendChild(h);});
if(D.setup>=0){var s0=document.createElement('div');s0.className='setup';
 s0.textContent='setup '+(D.setup/1e6).toFixed(1)+' s (not to scale)';
 s0.title='setup took '+(D.setup/1e6).toFixed(3)+' s before the main phase; times below are from the main phase\'s start';
 tl.appendChild(s0);}
function y0(o){return TOP+o[1]*k}
function y1(o){return TOP+(o[2]<0?span:o[2])*k}
function sec(t){return (t/1e6).toFixed(3)+' s'}
D.nem.forEach(function(r){var d=document.createElement('div');d.className='band';
 d.style.top=(TOP+r[0]*k)+'px';d.style.height=Math.max(2,(r[1]-r[0])*k)+'px';
 d.style.background=r[3];d.title=r[2]+': '+sec(r[0])+' to '+sec(r[1]);tl.appendChild(d);});
var blocks=[],byIdx={},el=new Array(n),done={};
function mk(i,parent){if(el[i])return;var o=ops[i],d=document.createElement('div');
 d.className='op '+cls[o[3]];d.id='op-'+o[6];var t=y0(o);
 d.style.top=t+'px';d.style.height=Math.max(3,y1(o)-t)+'px';d.style.left=(L+o[0]*W)+'px';d.style.width=(W-4)+'px';
 d.textContent=o[4]+' '+o[5];
 d.title=D.procs[o[0]]+'  '+o[4]+' '+o[5]+'\n'+names[o[3]]+'\ninvoked '+sec(o[1])+(o[2]>=0?', completed '+sec(o[2])+' ('+((o[2]-o[1])/1e3).toFixed(3)+' ms)':'')+
  '\nop index '+o[6]+(o[7]>=0?' / '+o[7]:'');
 d.onclick=function(){location.hash='op-'+o[6];};
 (parent||tl).appendChild(d);el[i]=d;}
for(var i=0;i<n;i++){var o=ops[i];byIdx[o[6]]=i;if(o[7]>=0)byIdx[o[7]]=i;
 var a=Math.floor(y0(o)/B),b=Math.floor(y1(o)/B);
 if(b-a>20){mk(i);continue;}
 for(var j=a;j<=b;j++)(blocks[j]||(blocks[j]=[])).push(i);}
function render(){var a=Math.floor(wrap.scrollTop/B)-1,b=Math.floor((wrap.scrollTop+wrap.clientHeight)/B)+1;
 var f=document.createDocumentFragment();
 for(var j=Math.max(0,a);j<=b;j++){if(done[j])continue;done[j]=1;
  var t=document.createElement('div');t.className='tick';t.style.top=(TOP+j*B)+'px';
  t.textContent=sec(j*B/k);f.appendChild(t);
  (blocks[j]||[]).forEach(function(i){mk(i,f);});}
 tl.appendChild(f);}
var pending=false;
wrap.addEventListener('scroll',function(){if(pending)return;pending=true;
 requestAnimationFrame(function(){pending=false;render();});});
function go(){var m=/^#op-(\d+)$/.exec(location.hash);if(!m)return;var i=byIdx[+m[1]];
 if(i===undefined)return;document.getElementById('timeline').scrollIntoView();
 wrap.scrollTop=Math.max(0,y0(ops[i])-wrap.clientHeight/3);render();mk(i);
 var p=document.querySelectorAll('.op.hl');for(var q=0;q<p.length;q++)p[q].classList.remove('hl');
 el[i].classList.add('hl');}
window.addEventListener('hashchange',go);render();go();
document.getElementById('tl-count').textContent=n+' operations, '+D.procs.length+' columns';
})();
)JS";

std::string verdict_class(const std::string& v) {
  return v == "valid" ? "v-valid" : v == "invalid" ? "v-invalid" : "v-unknown";
}

// Escapes the explanation and links "line N" to the op read from line N.
std::string linkify(const std::string& text, const std::map<int64_t, int64_t>& line_to_index) {
  std::string esc = html_escape(text);
  static const std::regex kLine(R"(\bline (\d+))");
  std::string out;
  auto begin = std::sregex_iterator(esc.begin(), esc.end(), kLine);
  size_t last = 0;
  for (auto it = begin; it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    out += esc.substr(last, static_cast<size_t>(m.position()) - last);
    int64_t line = std::stoll(m[1].str());
    auto f = line_to_index.find(line);
    if (f != line_to_index.end()) {
      out += "<a href=\"#op-" + std::to_string(f->second) + "\">" + m.str() + "</a>";
    } else {
      out += m.str();
    }
    last = static_cast<size_t>(m.position() + m.length());
  }
  out += esc.substr(last);
  return out;
}

std::string op_words(const Json& o) {
  std::string s = "process " + (o["process"].is_string() ? o["process"].get<std::string>()
                                                         : json_text(o["process"]));
  s += ": " + (o["f"].is_string() ? o["f"].get<std::string>() : json_text(o["f"]));
  if (o.contains("value") && !o["value"].is_null()) s += " " + cut_text(json_text(o["value"]), 80);
  if (o.contains("result") && !o["result"].is_null())
    s += " → " + cut_text(json_text(o["result"]), 80);
  if (o.contains("type") && o["type"].is_string()) s += " (" + o["type"].get<std::string>() + ")";
  return s;
}

}  // namespace

TimeAxis time_axis(const Json& test, const History& history) {
  int64_t first = -1;
  for (const Op& op : history) {
    if (op.time_ns >= 0) {
      first = first < 0 ? op.time_ns : std::min(first, op.time_ns);
    }
  }
  TimeAxis axis;
  int64_t main_start = test.is_object() ? test.value("main-start-ns", int64_t{-1}) : -1;
  if (main_start >= 0) {
    axis.setup_ns = main_start;
    axis.origin_ns = first >= 0 ? std::min(first, main_start) : main_start;
  }
  // Without it (a history from another tool), times stay as the history has them.
  return axis;
}

Json timeline_data(const History& history, const TimeAxis& axis) {
  auto us = [&](const Op& op) { return rel_us(op, axis.origin_ns); };
  std::set<int64_t> procs;
  bool nemesis = false;
  for (const Op& op : history) {
    if (op.is_nemesis()) {
      nemesis = true;
    } else {
      procs.insert(op.process);
    }
  }
  std::map<int64_t, int> column;
  Json names = Json::array();
  if (nemesis) {
    column[kNemesisProcess] = 0;
    names.push_back("nemesis");
  }
  for (int64_t p : procs) {
    column[p] = static_cast<int>(names.size());
    names.push_back("p" + std::to_string(p));
  }
  Json ops = Json::array();
  int64_t end = 0;
  for (const Op& op : history) {
    end = std::max(end, us(op));
    int64_t pair = history.pair_of(static_cast<size_t>(op.index));
    if (!op.is_invoke() && !op.is_nemesis()) continue;
    if (op.is_nemesis() && pair >= 0 && pair < op.index) continue;  // second of a nemesis pair
    const Op* done = pair >= 0 ? &history[static_cast<size_t>(pair)] : nullptr;
    int kind = 4;
    if (op.is_nemesis()) {
      kind = 3;
    } else if (done) {
      kind = done->type == OpType::kOk ? 0 : done->type == OpType::kFail ? 1 : 2;
    }
    const Json& value =
        done && (done->type == OpType::kOk || op.is_nemesis()) ? done->value : op.value;
    std::string text = value.is_null() ? "" : cut_text(json_text(value), 60);
    if (done && done->type != OpType::kOk && !done->error.is_null() && !op.is_nemesis()) {
      text += " ! " + cut_text(json_text(done->error), 40);
    }
    int64_t t1 = done ? us(*done) : (op.is_nemesis() ? us(op) : -1);
    ops.push_back(Json::array(
        {column[op.process], us(op), t1, kind, op.f, text, op.index, done ? done->index : -1}));
  }
  Json nem = Json::array();
  for (const NemesisInterval& n : nemesis_intervals(history)) {
    nem.push_back(Json::array(
        {(n.start_ns - axis.origin_ns) / 1000, (n.end_ns - axis.origin_ns) / 1000,
         n.name + (n.ended ? "" : " (never healed in the history)"), nemesis_colour(n.name)}));
  }
  return {{"procs", names},
          {"end", end},
          {"setup", axis.setup_ns >= 0 ? axis.setup_ns / 1000 : -1},
          {"ops", ops},
          {"nem", nem}};
}

ReportOutput write_report(const RunDir& run, const Json& results,
                          const std::map<std::string, std::string>& artifacts,
                          const ReportOptions& options) {
  ReportOutput out;
  const fs::path& run_dir = run.path();
  out.html = run.report_html();
  Json test = Json::object();
  try {
    if (fs::exists(run.test_json())) test = run.test();
  } catch (const std::exception& e) {
    out.notes.push_back(std::string("test.json unreadable: ") + e.what());
  }
  static const History kNoHistory;
  const History* history_ptr = &kNoHistory;
  bool have_history = false;
  try {
    history_ptr = &run.history().history;
    have_history = true;
  } catch (const std::exception& e) {
    out.notes.push_back(std::string("no timeline or plots: history unreadable: ") + e.what());
  }
  const History& history = *history_ptr;
  std::map<int64_t, int64_t> line_to_index;
  for (const Op& op : history) {
    if (op.line > 0) line_to_index[op.line] = op.index;
  }
  const TimeAxis axis = time_axis(test, history);

  // Plots.
  PlotOutput plots;
  if (have_history && options.plots) {
    PlotOptions po;
    po.gnuplot = options.gnuplot;
    po.origin_ns = axis.origin_ns;
    po.setup_ns = axis.setup_ns;
    plots = plot_run(history, run.plots(), po);
    for (auto& n : plots.notes) out.notes.push_back(n);
  }

  // Cycle graphs.
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> graphs;  // checker ->
  std::string dot_note;
  for (const auto& [name, bytes] : artifacts) {
    if (name.size() < 4 || name.substr(name.size() - 4) != ".dot") continue;
    auto slash = name.find('/');
    std::string checker = slash == std::string::npos ? "" : name.substr(0, slash);
    std::string note;
    auto svg = render_dot_svg(bytes, &note, options.dot);
    if (svg) {
      if (name.find("..") == std::string::npos) {
        try {
          fs::path svg_path = run_dir / (name.substr(0, name.size() - 4) + ".svg");
          fs::create_directories(svg_path.parent_path());
          write_file_atomic(svg_path, *svg);
        } catch (const std::exception&) {
        }
      }
      graphs[checker].push_back({name, "<img class=\"graph\" alt=\"" + html_escape(name) +
                                           "\" src=\"" + data_uri(".svg", *svg) + "\">"});
    } else {
      if (dot_note.empty()) dot_note = note;
      graphs[checker].push_back({name, "<pre>" + html_escape(bytes) + "</pre>"});
    }
  }
  if (!dot_note.empty()) out.notes.push_back(dot_note);

  std::string verdict = results.value("valid", std::string("unknown"));
  std::string name = test.value("name", run_dir.parent_path().filename().string());
  const Json spec = test.value("spec", Json::object());

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>"
    << html_escape(name) << " " << html_escape(run_dir.filename().string()) << ": "
    << html_escape(verdict) << "</title>\n<style>" << kStyle << "</style></head><body>\n";
  h << "<div class=\"verdict " << verdict_class(verdict)
    << "\" id=\"verdict\">Verdict: " << html_escape(verdict) << "</div>\n";
  h << "<h1>" << html_escape(name) << " <small>" << html_escape(run_dir.filename().string())
    << "</small></h1>\n<table class=\"kv\">";
  auto row = [&](const std::string& k, const std::string& v) {
    h << "<tr><td>" << html_escape(k) << "</td><td><code>" << html_escape(v) << "</code></td></tr>";
  };
  for (const char* key :
       {"db", "workload", "nemesis", "time-limit", "concurrency", "rate", "seed"}) {
    if (spec.contains(key))
      row(key, spec[key].is_string() ? spec[key].get<std::string>() : json_text(spec[key]));
  }
  if (test.contains("start")) row("start", json_text(test["start"]));
  if (results.contains("history")) {
    const Json& c = results["history"];
    row("history",
        std::to_string(c.value("ops", 0)) + " ops: ok " + std::to_string(c.value("ok", 0)) +
            ", fail " + std::to_string(c.value("fail", 0)) + ", info " +
            std::to_string(c.value("info", 0)) + ", nemesis " +
            std::to_string(c.value("nemesis", 0)) + ", open " + std::to_string(c.value("open", 0)));
  }
  h << "</table>\n";
  for (const auto& n : out.notes) h << "<div class=\"note\">" << html_escape(n) << "</div>\n";
  if (results.contains("history")) {
    for (const auto& w : results["history"].value("warnings", Json::array())) {
      h << "<div class=\"note\">"
        << html_escape(w.is_string() ? w.get<std::string>() : json_text(w)) << "</div>\n";
    }
  }
  h << "<p><a href=\"#checkers\">checkers</a> · <a href=\"#plots\">plots</a> · <a "
       "href=\"#timeline\">timeline</a> · files: <a href=\"results.json\">results.json</a> <a "
       "href=\"test.json\">test.json</a> <a href=\"history.jsonl\">history.jsonl</a> <a "
       "href=\"history.edn\">history.edn</a> <a href=\"controller.log\">controller.log</a> <a "
       "href=\"junit.xml\">junit.xml</a> <a href=\"FAILURE-REPORT.md\">FAILURE-REPORT.md</a> "
       "<a href=\"repro.json\">repro.json</a></p>\n";
  if (options.failure && options.failure->is_object()) h << failure_html(*options.failure);

  // Checkers.
  h << "<h2 id=\"checkers\">Checkers</h2>\n";
  const Json checkers = results.value("checkers", Json::object());
  for (const auto& [label, rj] : checkers.items()) {
    std::string v = rj.value("valid", std::string("unknown"));
    h << "<div class=\"checker\" id=\"checker-" << html_escape(label) << "\"><h3>"
      << html_escape(label) << " <span class=\"badge " << verdict_class(v) << "\">"
      << html_escape(v) << "</span></h3>\n";
    if (rj.contains("summary") && rj["summary"].is_string())
      h << "<p>" << html_escape(rj["summary"].get<std::string>()) << "</p>\n";
    if (rj.contains("error") && rj["error"].is_string())
      h << "<div class=\"note\">" << html_escape(rj["error"].get<std::string>()) << "</div>\n";
    if (rj.contains("explanation") && rj["explanation"].is_string() &&
        !rj["explanation"].get<std::string>().empty()) {
      h << "<h4>Explanation</h4><pre class=\"explanation\">"
        << linkify(rj["explanation"].get<std::string>(), line_to_index) << "</pre>\n";
    }
    std::map<int64_t, Json> involved;
    collect_ops(rj, &involved);
    if (!involved.empty()) {
      h << "<h4>Operations involved</h4><ul>\n";
      for (const auto& [idx, o] : involved) {
        h << "<li><a href=\"#op-" << idx << "\">op " << idx << "</a> " << html_escape(op_words(o))
          << "</li>\n";
      }
      h << "</ul>\n";
    }
    auto g = graphs.find(label);
    if (g != graphs.end()) {
      h << "<h4>Graphs</h4>\n";
      for (const auto& [gname, body] : g->second) {
        h << "<p><a href=\"" << html_escape(gname) << "\">" << html_escape(gname) << "</a></p>"
          << body << "\n";
      }
    }
    h << "<details><summary>details (results.json)</summary><pre>"
      << html_escape(rj.dump(2, ' ', false, Json::error_handler_t::replace))
      << "</pre></details>\n";
    h << "</div>\n";
  }

  // Plots.
  h << "<h2 id=\"plots\">Plots</h2>\n";
  if (plots.files.empty()) h << "<p>No plots (see the notes at the top).</p>\n";
  for (const auto& [file, title] : plots.files) {
    try {
      std::string bytes = read_file(run.plots() / file);
      h << "<h4>" << html_escape(title) << "</h4><img class=\"plot\" alt=\"" << html_escape(title)
        << "\" src=\"" << data_uri(file, bytes) << "\">\n";
    } catch (const std::exception&) {
    }
  }

  // Timeline.
  h << "<h2 id=\"timeline\">Timeline</h2>\n";
  if (have_history) {
    h << "<p class=\"legend\"><span class=\"ok\">ok</span><span class=\"fail\">fail</span><span "
         "class=\"info\">info</span><span class=\"open\">no completion</span><span "
         "class=\"nem\">nemesis op</span>shaded bands: nemesis faults · time runs downward from "
         "the main phase's start · "
         "hover an op for details, click to link it · <span id=\"tl-count\" "
         "style=\"border:0\"></span></p>\n"
      << "<div id=\"tl-wrap\"><div id=\"tl-head\"></div><div id=\"tl\"></div></div>\n"
      << "<script id=\"tl-data\" type=\"application/json\">"
      << script_json(timeline_data(history, axis)) << "</script>\n<script>" << kTimelineScript
      << "</script>\n";
  } else {
    h << "<p>No timeline: the history could not be read.</p>\n";
  }
  h << "</body></html>\n";
  std::string text = h.str();
  out.bytes = text.size();
  write_file_atomic(out.html, text);
  return out;
}

}  // namespace faultline::report
