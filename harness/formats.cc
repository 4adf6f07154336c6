#include "harness/formats.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <ostream>
#include <set>
#include <sstream>
#include <thread>

namespace faultline {

std::string_view to_string(HistoryFormat format) {
  switch (format) {
    case HistoryFormat::kJsonl:
      return "jsonl";
    case HistoryFormat::kEdn:
      return "edn";
    case HistoryFormat::kJepsenLog:
      return "jepsen-log";
    case HistoryFormat::kPorcupineKv:
      return "porcupine-kv";
  }
  return "?";
}

std::optional<HistoryFormat> parse_history_format(std::string_view name) {
  if (name == "jsonl" || name == "json") return HistoryFormat::kJsonl;
  if (name == "edn") return HistoryFormat::kEdn;
  if (name == "jepsen-log" || name == "log") return HistoryFormat::kJepsenLog;
  if (name == "porcupine-kv" || name == "kv") return HistoryFormat::kPorcupineKv;
  return std::nullopt;
}

namespace {

constexpr int kMaxDepth = 256;
constexpr std::string_view kLogMarker = "jepsen.util - ";

[[noreturn]] void fail_at(const std::string& source, int64_t line, std::string reason) {
  throw HistoryError(source, {HistoryProblem{line, -1, std::move(reason)}});
}

struct SymbolChars {
  bool table[256] = {};
  SymbolChars() {
    for (int c = 0; c < 256; ++c) {
      table[c] = std::isalnum(c) || c >= 0x80 || std::strchr(".*+!-_?$%&=<>/:#'", c) != nullptr;
    }
    table[0] = false;
  }
};
const SymbolChars kSymbolChars;

inline bool is_symbol_char(char c) { return kSymbolChars.table[static_cast<unsigned char>(c)]; }

std::string big_integer_reason(std::string_view literal) {
  std::string shown(literal.substr(0, 40));
  if (literal.size() > 40) shown += "...";
  return "integer " + shown +
         " does not fit in 64 bits; Faultline compares values exactly and would have to round "
         "it (write such values as strings)";
}

// The process of an op record: a non-negative integer, or the nemesis ("nemesis", or a named
// nemesis process such as Jepsen's "nemesis-1"). A negative or out-of-range number is bad input:
// read as -1 it would silently become the nemesis and its op would be dropped from every check.
template <typename Fail>
int64_t checked_process(const Json& v, Fail&& fail) {
  if (v.is_number_unsigned()) {
    if (v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) {
      fail("process " + json_text(v) + " is out of range (at most " + std::to_string(INT64_MAX) +
           ")");
    }
    return v.get<int64_t>();
  }
  if (v.is_number_integer() && v.get<int64_t>() >= 0) return v.get<int64_t>();
  if (v.is_number_integer()) {
    fail("process " + json_text(v) +
         " is negative: a client process is a number from 0, and the "
         "nemesis is written \"nemesis\"");
  }
  if (v.is_string()) {
    const auto& name = v.get_ref<const std::string&>();
    if (name.rfind("nemesis", 0) == 0) return kNemesisProcess;
  }
  fail("process must be a non-negative integer or nemesis, not " + json_text(v));
  return 0;  // not reached: fail throws
}

// Refuses an integer literal of a JSON text that does not fit in 64 bits (nlohmann would read
// it as a double, rounding it) and a nesting deeper than kMaxDepth (every later step, such as
// writing the value back, recurses over it).
void check_json_text(std::string_view text, const std::string& source, int64_t line) {
  bool in_string = false;
  int depth = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) {
        fail_at(source, line, "nesting deeper than " + std::to_string(kMaxDepth));
      }
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      size_t end = i + 1;
      bool integer = true;
      while (end < text.size() && (std::isdigit(static_cast<unsigned char>(text[end])) ||
                                   std::strchr(".eE+-", text[end]) != nullptr)) {
        integer = integer && std::isdigit(static_cast<unsigned char>(text[end]));
        ++end;
      }
      std::string_view literal = text.substr(i, end - i);
      if (integer && literal.size() > 18) {
        int64_t v;
        uint64_t u;
        const char* b = literal.data();
        const char* e = b + literal.size();
        const bool fits = c == '-' ? std::from_chars(b, e, v).ec == std::errc()
                                   : std::from_chars(b, e, u).ec == std::errc();
        if (!fits) fail_at(source, line, big_integer_reason(literal));
      }
      i = end - 1;
    }
  }
}

// Recursive-descent EDN reader producing JSON (see formats.h for the mapping).
class EdnReader {
 public:
  EdnReader(std::string_view text, const std::string& source, int64_t first_line = 1)
      : s_(text), source_(source), line_(first_line) {}

  // Skips whitespace, commas, comments and #_ discards. True if a form follows.
  bool more() {
    skip();
    return pos_ < s_.size();
  }
  int64_t line() const { return line_; }
  size_t pos() const { return pos_; }
  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  void consume() { ++pos_; }

  Json read() { return read_form(0); }

  // Reads one op map ({...} or a tagged map) directly into an Op.
  Op read_op() {
    skip();
    int64_t start_line = line_;
    if (peek() == '#' && pos_ + 1 < s_.size() && is_symbol_char(s_[pos_ + 1]) &&
        s_[pos_ + 1] != '_' && s_[pos_ + 1] != '{') {
      ++pos_;
      read_token();  // the tag, e.g. jepsen.history.Op
      skip();
    }
    if (peek() != '{') error("expected an op map '{...}', found " + describe_here());
    // Fields go straight into the Op, with no intermediate JSON map: this is the hot path for
    // million-op histories.
    ++pos_;
    OpBuilder b(*this, start_line);
    while (true) {
      skip();
      if (pos_ >= s_.size()) {
        fail_at(source_, start_line, "unterminated map, expected '}' (the map opens here)");
      }
      if (s_[pos_] == '}') {
        ++pos_;
        break;
      }
      std::string key_buf;
      std::string_view key;
      if (s_[pos_] == ':') {
        ++pos_;
        key = read_token();
        if (key.empty()) error("empty keyword");
      } else {
        key_buf = key_text(read_form(1));
        key = key_buf;
      }
      skip();
      if (pos_ >= s_.size() || s_[pos_] == '}') {
        error("map key " + std::string(key) + " has no value");
      }
      // Keyword values of :type, :f and :process are read without building JSON.
      if (s_[pos_] == ':' && (key == "type" || key == "f" || key == "process")) {
        ++pos_;
        std::string_view word = read_token();
        if (key == "type") {
          b.set_type(word);
        } else if (key == "f") {
          b.set_f(word);
        } else {
          b.set(key, Json(std::string(word)));
        }
        continue;
      }
      if (key == "process" && pos_ < s_.size() &&
          std::isdigit(static_cast<unsigned char>(s_[pos_]))) {
        size_t start = pos_;
        while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
        int64_t p = 0;
        auto [ptr, ec] = std::from_chars(s_.data() + start, s_.data() + pos_, p);
        if (ec == std::errc() && (pos_ == s_.size() || !is_symbol_char(s_[pos_]))) {
          b.set_process(p);
          continue;
        }
        pos_ = start;
      }
      b.set(key, read_form(1));
    }
    return b.finish();
  }

  Op op_from_map(Json m, int64_t line) {
    OpBuilder b(*this, line);
    for (auto& [k, v] : m.items()) b.set(k, std::move(v));
    return b.finish();
  }

  // Assigns the fields of one op record, checking them.
  class OpBuilder {
   public:
    OpBuilder(EdnReader& r, int64_t line) : r_(r) { op_.line = line; }
    void set_type(std::string_view word) {
      auto t = parse_op_type(word);
      if (!t) {
        fail_at(r_.source_, op_.line,
                "unknown op type :" + std::string(word) + " (expected invoke, ok, fail or info)");
      }
      op_.type = *t;
      has_type_ = true;
    }
    void set_f(std::string_view word) { op_.f = word; }
    void set_process(int64_t p) {
      op_.process = p;
      has_process_ = true;
    }
    void set(std::string_view k, Json v) {
      const int64_t line = op_.line;
      if (k == "type") {
        auto t = v.is_string() ? parse_op_type(v.get_ref<const std::string&>()) : std::nullopt;
        if (!t) {
          fail_at(r_.source_, line,
                  "unknown op type " + json_text(v) + " (expected invoke, ok, fail or info)");
        }
        op_.type = *t;
        has_type_ = true;
      } else if (k == "process") {
        op_.process = r_.process_of(v, line);
        has_process_ = true;
      } else if (k == "f") {
        op_.f = v.is_string() ? v.get<std::string>() : json_text(v);
      } else if (k == "value") {
        op_.value = std::move(v);
      } else if (k == "time") {
        if (!v.is_number()) fail_at(r_.source_, line, "time must be a number, not " + json_text(v));
        op_.time_ns =
            v.is_number_float() ? static_cast<int64_t>(v.get<double>()) : v.get<int64_t>();
      } else if (k == "index") {
        // Positions are re-derived from the order of ops.
      } else if (k == "node") {
        op_.node = v.is_string() ? v.get<std::string>() : json_text(v);
      } else if (k == "error") {
        op_.error = std::move(v);
      } else {
        op_.extra[std::string(k)] = std::move(v);
      }
    }
    Op finish() {
      if (!has_type_) fail_at(r_.source_, op_.line, "op has no :type");
      if (!has_process_) fail_at(r_.source_, op_.line, "op has no :process");
      return std::move(op_);
    }

   private:
    EdnReader& r_;
    Op op_;
    bool has_type_ = false, has_process_ = false;
  };

  int64_t process_of(const Json& v, int64_t line) {
    return checked_process(v,
                           [&](std::string reason) { fail_at(source_, line, std::move(reason)); });
  }

  [[noreturn]] void error(std::string reason) { fail_at(source_, line_, std::move(reason)); }

  std::string describe_here() {
    if (pos_ >= s_.size()) return "end of input";
    std::string_view rest = s_.substr(pos_, 20);
    if (auto nl = rest.find('\n'); nl != std::string_view::npos) rest = rest.substr(0, nl);
    std::string out = "'";
    for (char c : rest) out += (static_cast<unsigned char>(c) < 0x20) ? '?' : c;
    return out + "'";
  }

 private:
  // `depth` is the nesting of the form being read: a discarded form (#_) is read one deeper, so
  // a run of discards (`#_ #_ #_ ...`) is bounded by kMaxDepth like any nesting.
  void skip(int depth = 0) {
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (c == '\n') {
        ++line_;
        ++pos_;
      } else if (c == ' ' || c == '\t' || c == '\r' || c == ',' || c == '\f') {
        ++pos_;
      } else if (c == ';') {
        while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
      } else if (c == '#' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '_') {
        pos_ += 2;
        read_form(depth + 1);  // discarded
      } else {
        break;
      }
    }
  }

  std::string_view read_token() {
    size_t start = pos_;
    while (pos_ < s_.size() && is_symbol_char(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  Json read_form(int depth) {
    if (depth > kMaxDepth) error("nesting deeper than " + std::to_string(kMaxDepth));
    skip(depth);
    if (pos_ >= s_.size()) error("unexpected end of input");
    char c = s_[pos_];
    switch (c) {
      case '"':
        return read_string();
      case '[':
        ++pos_;
        return read_seq(']', depth);
      case '(':
        ++pos_;
        return read_seq(')', depth);
      case '{':
        ++pos_;
        return read_map(depth);
      case '#':
        return read_dispatch(depth);
      case ':': {
        ++pos_;
        std::string_view name = read_token();
        if (name.empty()) error("empty keyword");
        return std::string(name);
      }
      case '\\':
        return read_char();
      case ']':
      case ')':
      case '}':
        error(std::string("unmatched '") + c + "'");
      default:
        break;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        ((c == '-' || c == '+') && pos_ + 1 < s_.size() &&
         std::isdigit(static_cast<unsigned char>(s_[pos_ + 1])))) {
      return read_number();
    }
    if (is_symbol_char(c)) {
      std::string_view sym = read_token();
      if (sym == "nil") return nullptr;
      if (sym == "true") return true;
      if (sym == "false") return false;
      return std::string(sym);
    }
    error("unexpected character " + describe_here());
  }

  Json read_seq(char close, int depth) {
    Json arr = Json::array();
    const int64_t open_line = line_;
    while (true) {
      skip(depth + 1);
      if (pos_ >= s_.size()) {
        fail_at(source_, open_line,
                std::string("unterminated collection, expected '") + close + "' (it opens here)");
      }
      if (s_[pos_] == close) {
        ++pos_;
        return arr;
      }
      arr.push_back(read_form(depth + 1));
    }
  }

  static std::string key_text(const Json& k) {
    if (k.is_string()) return k.get<std::string>();
    return to_edn(k);
  }

  Json read_map(int depth) {
    Json obj = Json::object();
    const int64_t open_line = line_;
    while (true) {
      skip(depth + 1);
      if (pos_ >= s_.size()) {
        fail_at(source_, open_line, "unterminated map, expected '}' (the map opens here)");
      }
      if (s_[pos_] == '}') {
        ++pos_;
        return obj;
      }
      Json k = read_form(depth + 1);
      skip(depth + 1);
      if (pos_ >= s_.size() || s_[pos_] == '}') error("map key " + json_text(k) + " has no value");
      obj[key_text(k)] = read_form(depth + 1);
    }
  }

  Json read_dispatch(int depth) {
    ++pos_;  // '#'
    if (pos_ >= s_.size()) error("unexpected end of input after '#'");
    char c = s_[pos_];
    if (c == '{') {
      ++pos_;
      Json arr = read_seq('}', depth);
      return arr;
    }
    if (c == '_') {
      ++pos_;
      read_form(depth + 1);
      return read_form(depth);
    }
    if (c == '"') {  // regex literal: keep its text
      return read_string();
    }
    std::string_view tag = read_token();
    if (tag.empty()) error("bad dispatch '#" + std::string(1, c) + "'");
    return read_form(depth + 1);  // #inst "..." -> string, #Op{...} -> map, ...
  }

  Json read_string() {
    ++pos_;  // opening quote
    std::string out;
    while (true) {
      // Copy the run up to the next quote, backslash or newline in one go.
      size_t run = pos_;
      while (run < s_.size() && s_[run] != '"' && s_[run] != '\\' && s_[run] != '\n') ++run;
      out.append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= s_.size()) error("unterminated string");
      char c = s_[pos_++];
      if (c == '"') return out;
      if (c == '\n') ++line_;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (pos_ >= s_.size()) error("unterminated string escape");
      char e = s_[pos_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case 'b':
          out += '\b';
          break;
        case 'f':
          out += '\f';
          break;
        case '"':
          out += '"';
          break;
        case '\\':
          out += '\\';
          break;
        case '/':
          out += '/';
          break;
        case 'u': {
          uint32_t cp = read_hex4();
          if (cp >= 0xD800 && cp <= 0xDBFF && pos_ + 6 <= s_.size() && s_[pos_] == '\\' &&
              s_[pos_ + 1] == 'u') {
            pos_ += 2;
            uint32_t lo = read_hex4();
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else {
              encode_utf8(0xFFFD, out);
              cp = lo;
            }
          }
          encode_utf8(cp, out);
          break;
        }
        default:
          error(std::string("unknown string escape '\\") + e + "'");
      }
    }
  }

  uint32_t read_hex4() {
    if (pos_ + 4 > s_.size()) error("truncated \\u escape");
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      char h = s_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9')
        cp |= static_cast<uint32_t>(h - '0');
      else if (h >= 'a' && h <= 'f')
        cp |= static_cast<uint32_t>(h - 'a' + 10);
      else if (h >= 'A' && h <= 'F')
        cp |= static_cast<uint32_t>(h - 'A' + 10);
      else
        error("bad hex digit in \\u escape");
    }
    return cp;
  }

  Json read_char() {
    ++pos_;  // backslash
    if (pos_ >= s_.size()) error("truncated character literal");
    size_t start = pos_;
    ++pos_;
    while (pos_ < s_.size() && std::isalnum(static_cast<unsigned char>(s_[pos_]))) ++pos_;
    std::string_view name = s_.substr(start, pos_ - start);
    if (name.size() == 1) return std::string(name);
    if (name == "newline") return "\n";
    if (name == "space") return " ";
    if (name == "tab") return "\t";
    if (name == "return") return "\r";
    if (name.size() == 5 && name[0] == 'u') {
      pos_ = start + 1;
      std::string out;
      uint32_t cp = read_hex4();
      encode_utf8(cp, out);
      return out;
    }
    // A one-character literal followed by letters, e.g. \a in "\abc": take one character.
    pos_ = start + 1;
    return std::string(1, s_[start]);
  }

  Json read_number() {
    size_t start = pos_;
    if (s_[pos_] == '-' || s_[pos_] == '+') ++pos_;
    bool is_float = false;
    while (pos_ < s_.size()) {
      char c = s_[pos_];
      if (std::isdigit(static_cast<unsigned char>(c))) {
        ++pos_;
      } else if (c == '.' || c == 'e' || c == 'E') {
        is_float = true;
        ++pos_;
        if ((c == 'e' || c == 'E') && pos_ < s_.size() && (s_[pos_] == '-' || s_[pos_] == '+')) {
          ++pos_;
        }
      } else {
        break;
      }
    }
    std::string_view text = s_.substr(start, pos_ - start);
    bool big = false;
    if (pos_ < s_.size() && (s_[pos_] == 'N' || s_[pos_] == 'M')) {
      big = s_[pos_] == 'N';
      if (s_[pos_] == 'M') is_float = true;
      ++pos_;
    }
    if (pos_ < s_.size() && s_[pos_] == '/') {  // ratio a/b
      ++pos_;
      size_t dstart = pos_;
      while (pos_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[pos_]))) ++pos_;
      if (dstart == pos_) error("bad ratio");
      double num = std::strtod(std::string(text).c_str(), nullptr);
      double den = std::strtod(std::string(s_.substr(dstart, pos_ - dstart)).c_str(), nullptr);
      return num / den;
    }
    if (pos_ < s_.size() && is_symbol_char(s_[pos_]) && s_[pos_] != '/') {
      error("bad number " + describe_at(start));
    }
    if (!is_float) {
      std::string_view digits = text;
      if (!digits.empty() && digits.front() == '+') digits.remove_prefix(1);
      int64_t v = 0;
      auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
      if (ec == std::errc() && ptr == digits.data() + digits.size()) return v;
      uint64_t u = 0;
      auto [uptr, uec] = std::from_chars(digits.data(), digits.data() + digits.size(), u);
      if (uec == std::errc() && uptr == digits.data() + digits.size()) return u;
      (void)big;
      // Beyond 64 bits: a double would round it, and two different values would compare equal.
      error(big_integer_reason(text));
    }
    std::string copy(text);
    char* end = nullptr;
    double d = std::strtod(copy.c_str(), &end);
    if (end != copy.c_str() + copy.size()) error("bad number " + describe_at(start));
    if (!std::isfinite(d)) return copy;  // keep an overflowing literal's text
    return d;
  }

  std::string describe_at(size_t at) {
    size_t save = pos_;
    pos_ = at;
    std::string d = describe_here();
    pos_ = save;
    return d;
  }

 public:
  static void encode_utf8(uint32_t cp, std::string& out) {
    if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;  // lone surrogate
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += static_cast<char>(0xE0 | (cp >> 12));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (cp >> 18));
      out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
  }

 private:
  std::string_view s_;
  const std::string& source_;
  size_t pos_ = 0;
  int64_t line_ = 1;
};

}  // namespace

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Calls fn(line_text, line_number) for every line.
template <typename Fn>
void for_each_line(std::string_view text, Fn&& fn, int64_t first_line = 1) {
  int64_t line = first_line;
  size_t start = 0;
  while (start < text.size()) {
    size_t nl = text.find('\n', start);
    if (nl == std::string_view::npos) nl = text.size();
    fn(text.substr(start, nl - start), line);
    ++line;
    start = nl + 1;
  }
}

std::vector<Op> read_edn_ops(std::string_view text, const std::string& source) {
  std::vector<Op> ops;
  // About one op per line, as Jepsen and Porcupine write them: reserving saves the copies and
  // page faults of growing a vector of millions of ops.
  ops.reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')) + 1);
  EdnReader r(text, source);
  if (!r.more()) return ops;
  if (r.peek() == '[' || r.peek() == '(') {
    // One vector of op maps (history.edn as Jepsen writes it).
    char close = r.peek() == '[' ? ']' : ')';
    r.consume();
    while (true) {
      if (!r.more()) {
        r.error(std::string("unterminated history vector, expected '") + close + "'");
      }
      if (r.peek() == close) {
        r.consume();
        break;
      }
      ops.push_back(r.read_op());
    }
    if (r.more()) r.error("unexpected text after the history vector: " + r.describe_here());
    return ops;
  }
  while (r.more()) ops.push_back(r.read_op());
  return ops;
}

// The direct jsonl reader: one line in the shape our recorder writes, read straight into an Op
// without an intermediate JSON map. It handles a subset of JSON chosen so that whatever it
// accepts, nlohmann's parser reads to the same values: ASCII strings with the simple escapes
// (no \u, no bytes >= 0x80, no control characters), integers of at most 18 digits (non-negative
// ones unsigned, as nlohmann types them), true/false/null, arrays and objects (a repeated key:
// the last wins, as in nlohmann) up to depth 64. On anything else it gives up (nullopt) and the
// line goes to the general path, which also produces every error message; so it also gives up
// on a line the general path would reject: a repeated op field, a missing type or process, a
// field of the wrong type.
class JsonlFastReader {
 public:
  // One reader serves many lines (its scratch space is kept).
  JsonlFastReader() : scratch_(kMaxFastDepth + 2) {}

  std::optional<Op> read_op(std::string_view line) {
    s_ = line;
    pos_ = 0;
    Op op;
    ws();
    if (!eat('{')) return std::nullopt;
    uint32_t seen = 0;  // op fields already set (a repeat goes to the general path)
    std::string key;
    ws();
    if (peek() != '}') {
      while (true) {
        ws();
        if (!string(&key)) return std::nullopt;
        ws();
        if (!eat(':')) return std::nullopt;
        ws();
        uint32_t bit = 0;
        if (is(key, "type")) {
          bit = 1;
          std::string word;
          if (!string(&word)) return std::nullopt;
          auto t = parse_op_type(word);
          if (!t) return std::nullopt;
          op.type = *t;
        } else if (is(key, "process")) {
          bit = 2;
          if (peek() == '"') {
            std::string word;
            if (!string(&word) || word != "nemesis") return std::nullopt;
            op.process = kNemesisProcess;
          } else {
            Json v;
            if (!number(&v) || (v.is_number_integer() && !v.is_number_unsigned())) {
              return std::nullopt;  // a negative process: refused by the general path
            }
            op.process = v.get<int64_t>();
          }
        } else if (is(key, "f")) {
          bit = 4;
          if (!string(&op.f)) return std::nullopt;
        } else if (is(key, "time")) {
          bit = 8;
          Json v;
          if (!number(&v)) return std::nullopt;
          op.time_ns = v.get<int64_t>();
        } else if (is(key, "node")) {
          bit = 16;
          if (!string(&op.node)) return std::nullopt;
        } else if (is(key, "value")) {
          bit = 32;
          if (!value(&op.value, 0)) return std::nullopt;
        } else if (is(key, "error")) {
          bit = 64;
          if (!value(&op.error, 0)) return std::nullopt;
        } else if (is(key, "index")) {
          bit = 128;
          Json ignored;
          if (!value(&ignored, 0)) return std::nullopt;
        } else {
          Json v;
          if (!value(&v, 0)) return std::nullopt;
          op.extra[key] = std::move(v);
        }
        if (seen & bit) return std::nullopt;
        seen |= bit;
        ws();
        if (eat(',')) continue;
        if (peek() == '}') break;
        return std::nullopt;
      }
    }
    ++pos_;  // '}'
    ws();
    if (pos_ != s_.size()) return std::nullopt;
    if ((seen & 3) != 3) return std::nullopt;  // no type or no process: an error, said there
    return op;
  }

 private:
  static constexpr int kMaxFastDepth = 64;

  template <size_t N>
  static bool is(const std::string& key, const char (&name)[N]) {
    return key.size() == N - 1 && std::memcmp(key.data(), name, N - 1) == 0;
  }

  char peek() const { return pos_ < s_.size() ? s_[pos_] : '\0'; }
  bool eat(char c) {
    if (peek() != c) return false;
    ++pos_;
    return true;
  }
  void ws() {
    while (pos_ < s_.size() &&
           (s_[pos_] == ' ' || s_[pos_] == '\t' || s_[pos_] == '\r' || s_[pos_] == '\n')) {
      ++pos_;
    }
  }

  bool string(std::string* out) {
    if (!eat('"')) return false;
    out->clear();
    while (true) {
      size_t run = pos_;
      while (run < s_.size()) {
        const auto c = static_cast<unsigned char>(s_[run]);
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80) break;
        ++run;
      }
      out->append(s_.data() + pos_, run - pos_);
      pos_ = run;
      if (pos_ >= s_.size()) return false;
      const char c = s_[pos_++];
      if (c == '"') return true;
      if (c != '\\' || pos_ >= s_.size()) return false;  // control or non-ASCII byte
      switch (s_[pos_++]) {
        case '"':
          *out += '"';
          break;
        case '\\':
          *out += '\\';
          break;
        case '/':
          *out += '/';
          break;
        case 'b':
          *out += '\b';
          break;
        case 'f':
          *out += '\f';
          break;
        case 'n':
          *out += '\n';
          break;
        case 'r':
          *out += '\r';
          break;
        case 't':
          *out += '\t';
          break;
        default:
          return false;  // \u and bad escapes
      }
    }
  }

  bool number(Json* out) {
    const size_t start = pos_;
    const bool neg = eat('-');
    const size_t digits = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    const size_t n = pos_ - digits;
    if (n == 0 || n > 18 || (n > 1 && s_[digits] == '0')) return false;
    const char next = peek();
    if (next == '.' || next == 'e' || next == 'E') return false;  // a float: general path
    int64_t v = 0;
    std::from_chars(s_.data() + digits, s_.data() + pos_, v);
    if (neg) {
      *out = Json(static_cast<int64_t>(-v));
    } else {
      *out = Json(static_cast<uint64_t>(v));
    }
    (void)start;
    return true;
  }

  bool value(Json* out, int depth) {
    if (depth > kMaxFastDepth) return false;
    const char c = peek();
    if (c == '"') {
      std::string str;
      if (!string(&str)) return false;
      *out = std::move(str);
      return true;
    }
    if (c == '-' || (c >= '0' && c <= '9')) return number(out);
    if (c == '[') {
      // Elements go to a scratch vector per depth first, so each array is allocated once, at
      // its size (growing it element by element was a fifth of the reading time).
      ++pos_;
      ws();
      if (eat(']')) {
        *out = Json::array();
        return true;
      }
      auto& items = scratch_[static_cast<size_t>(depth)];  // never resized: stays valid
      items.clear();
      while (true) {
        ws();
        items.emplace_back();
        if (!value(&items.back(), depth + 1)) return false;
        ws();
        if (eat(',')) continue;
        if (!eat(']')) return false;
        break;
      }
      *out = Json::array_t(std::make_move_iterator(items.begin()),
                           std::make_move_iterator(items.end()));
      items.clear();
      return true;
    }
    if (c == '{') {
      ++pos_;
      *out = Json::object();
      ws();
      if (eat('}')) return true;
      std::string key;
      while (true) {
        ws();
        if (!string(&key)) return false;
        ws();
        if (!eat(':')) return false;
        ws();
        Json v;
        if (!value(&v, depth + 1)) return false;
        (*out)[key] = std::move(v);
        ws();
        if (eat(',')) continue;
        return eat('}');
      }
    }
    if (s_.substr(pos_, 4) == "null") {
      pos_ += 4;
      *out = nullptr;
      return true;
    }
    if (s_.substr(pos_, 4) == "true") {
      pos_ += 4;
      *out = true;
      return true;
    }
    if (s_.substr(pos_, 5) == "false") {
      pos_ += 5;
      *out = false;
      return true;
    }
    return false;
  }

  std::string_view s_;
  size_t pos_ = 0;
  // Per depth (value() never goes deeper than kMaxFastDepth + 1): the elements of the array
  // being read there.
  std::vector<std::vector<Json>> scratch_;
};

// Reads the lines of `text` (whose first line is `first_line` of the file) into out[0..),
// which has room for one op per line; returns how many ops were read.
size_t read_jsonl_chunk(std::string_view text, int64_t first_line, const std::string& source,
                        Op* out) {
  size_t n = 0;
  JsonlFastReader fast;
  for_each_line(
      text,
      [&](std::string_view raw, int64_t line) {
        std::string_view l = trim(raw);
        if (l.empty()) return;
        if (std::optional<Op> op = fast.read_op(l)) {
          op->line = line;
          out[n++] = std::move(*op);
        } else {
          out[n++] = read_jsonl_line_general(l, line, source);
        }
      },
      first_line);
  return n;
}

size_t line_count(std::string_view text) {
  const size_t newlines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  return newlines + (!text.empty() && text.back() != '\n' ? 1 : 0);
}

// Large texts are read by several threads, each a run of whole lines, into one vector; the
// result is the same as one thread's (same ops, same first error: each part stops at its own
// first bad line, and the earliest part's error is the one thrown).
std::vector<Op> read_jsonl_ops(std::string_view text, const std::string& source) {
  constexpr size_t kBytesPerThread = 16 << 20;
  const size_t threads = std::clamp<size_t>(
      std::min<size_t>(text.size() / kBytesPerThread, std::thread::hardware_concurrency()), 1, 4);
  return read_jsonl_parallel(text, source, threads);
}

}  // namespace

std::vector<Op> read_jsonl_parallel(std::string_view text, const std::string& source,
                                    size_t threads) {
  threads = std::max<size_t>(threads, 1);
  std::vector<std::string_view> parts;
  for (size_t i = 0, start = 0; i < threads; ++i) {
    size_t end = text.size();
    if (i + 1 < threads) {
      end = text.find('\n', std::max(start, text.size() / threads * (i + 1)));
      end = end == std::string_view::npos ? text.size() : end + 1;
    }
    parts.push_back(text.substr(start, end - start));
    start = end;
  }
  std::vector<size_t> at(parts.size()), lines(parts.size());
  std::vector<int64_t> first_line(parts.size());
  size_t room = 0;
  int64_t line = 1;
  for (size_t i = 0; i < parts.size(); ++i) {
    at[i] = room;
    lines[i] = line_count(parts[i]);
    first_line[i] = line;
    room += lines[i];
    line += static_cast<int64_t>(lines[i]);
  }
  std::vector<Op> ops(room);
  std::vector<size_t> got(parts.size(), 0);
  std::vector<std::exception_ptr> errors(parts.size());
  auto work = [&](size_t i) {
    try {
      got[i] = read_jsonl_chunk(parts[i], first_line[i], source, ops.data() + at[i]);
    } catch (...) {
      errors[i] = std::current_exception();
    }
  };
  std::vector<std::thread> pool;
  for (size_t i = 1; i < parts.size(); ++i) pool.emplace_back(work, i);
  work(0);
  for (auto& t : pool) t.join();
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
  // Close the gaps left by blank lines.
  size_t n = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    for (size_t k = 0; k < got[i]; ++k, ++n) {
      if (n != at[i] + k) ops[n] = std::move(ops[at[i] + k]);
    }
  }
  ops.resize(n);
  return ops;
}

namespace {

std::vector<Op> read_log_ops(std::string_view text, const std::string& source) {
  std::vector<Op> ops;
  for_each_line(text, [&](std::string_view raw, int64_t line) {
    size_t at = raw.find(kLogMarker);
    if (at == std::string_view::npos) return;
    std::string_view rest = raw.substr(at + kLogMarker.size());
    // <process>\t<type>\t<f>\t<value>; be lenient about spaces instead of tabs.
    EdnReader r(rest, source, line);
    Json fields[3];
    for (int i = 0; i < 3; ++i) {
      if (!r.more()) fail_at(source, line, "log line has fewer than 4 fields");
      fields[i] = r.read();
    }
    Op op;
    op.line = line;
    op.process = r.process_of(fields[0], line);
    auto type = fields[1].is_string() ? parse_op_type(fields[1].get<std::string>()) : std::nullopt;
    if (!type) {
      fail_at(source, line,
              "unknown op type " + json_text(fields[1]) + " (expected invoke, ok, fail or info)");
    }
    op.type = *type;
    op.f = fields[2].is_string() ? fields[2].get<std::string>() : json_text(fields[2]);
    if (r.more()) op.value = r.read();
    if (r.more()) fail_at(source, line, "unexpected text after the value: " + r.describe_here());
    ops.push_back(std::move(op));
  });
  return ops;
}

bool is_keyword_text(std::string_view s) {
  if (s.empty() || !std::isalpha(static_cast<unsigned char>(s[0]))) return false;
  for (char c : s) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
          c == '?' || c == '!' || c == '*' || c == '+' || c == '/')) {
      return false;
    }
  }
  return s != "nil" && s != "true" && s != "false";
}

bool is_integer_text(std::string_view s) {
  if (s.empty()) return false;
  size_t i = s[0] == '-' ? 1 : 0;
  if (i == s.size() || s.size() > 19) return false;
  for (; i < s.size(); ++i) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return false;
  }
  if (s.size() > 1 && (s[0] == '0' || (s[0] == '-' && s[1] == '0'))) return false;
  return true;
}

void write_edn_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// Writes EDN. `mops` marks an array of micro-ops ([["append", k, v], ...]) whose function
// names are written as keywords.
void write_edn(std::string& out, const Json& v, bool mops = false) {
  switch (v.type()) {
    case Json::value_t::null:
      out += "nil";
      return;
    case Json::value_t::boolean:
      out += v.get<bool>() ? "true" : "false";
      return;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      out += json_text(v);
      return;
    case Json::value_t::number_float: {
      std::string t = json_text(v);
      if (t.find_first_of(".eE") == std::string::npos) t += ".0";
      out += t;
      return;
    }
    case Json::value_t::string:
      write_edn_string(out, v.get_ref<const std::string&>());
      return;
    case Json::value_t::array: {
      out += '[';
      bool first = true;
      for (const auto& e : v) {
        if (!first) out += ' ';
        first = false;
        if (mops && e.is_array() && !e.empty() && e[0].is_string() &&
            (e[0] == "append" || e[0] == "r" || e[0] == "w")) {
          out += "[:";
          out += e[0].get<std::string>();
          for (size_t i = 1; i < e.size(); ++i) {
            out += ' ';
            write_edn(out, e[i]);
          }
          out += ']';
        } else {
          write_edn(out, e);
        }
      }
      out += ']';
      return;
    }
    case Json::value_t::object: {
      out += '{';
      bool first = true;
      for (const auto& [k, e] : v.items()) {
        if (!first) out += ", ";
        first = false;
        if (is_integer_text(k)) {
          out += k;
        } else {
          write_edn_string(out, k);
        }
        out += ' ';
        write_edn(out, e);
      }
      out += '}';
      return;
    }
    default:
      out += "nil";
      return;
  }
}

bool looks_like_txn(const Json& v) {
  if (!v.is_array() || v.empty()) return false;
  for (const auto& m : v) {
    if (!m.is_array() || m.empty() || !m[0].is_string()) return false;
    const auto& f = m[0].get_ref<const std::string&>();
    if (f != "append" && f != "r" && f != "w") return false;
  }
  return true;
}

std::string op_to_edn(const Op& op, bool porcupine) {
  std::string out = "{";
  if (!porcupine) {
    out += ":index " + std::to_string(op.index) + ", ";
    if (op.time_ns != kNoTime) out += ":time " + std::to_string(op.time_ns) + ", ";
  }
  out += ":process ";
  out += op.is_nemesis() ? std::string(":nemesis") : std::to_string(op.process);
  out += ", :type :";
  out += to_string(op.type);
  out += ", :f ";
  if (is_keyword_text(op.f)) {
    out += ":" + op.f;
  } else {
    write_edn_string(out, op.f);
  }
  for (const auto& [k, e] : op.extra.items()) {
    out += ", ";
    if (is_keyword_text(k)) {
      out += ":" + k;
    } else {
      write_edn_string(out, k);
    }
    out += " ";
    write_edn(out, e);
  }
  out += ", :value ";
  write_edn(out, op.value, looks_like_txn(op.value));
  if (!op.node.empty()) {
    out += ", :node ";
    write_edn_string(out, op.node);
  }
  if (!op.error.is_null()) {
    out += ", :error ";
    if (op.error.is_string() && is_keyword_text(op.error.get_ref<const std::string&>())) {
      out += ":" + op.error.get<std::string>();
    } else {
      write_edn(out, op.error);
    }
  }
  out += "}";
  return out;
}

}  // namespace

Json parse_edn(std::string_view text, const std::string& source) {
  EdnReader r(text, source);
  if (!r.more()) r.error("no EDN value");
  Json v = r.read();
  if (r.more()) r.error("unexpected text after the value: " + r.describe_here());
  return v;
}

std::optional<Op> read_jsonl_line_fast(std::string_view line) {
  return JsonlFastReader().read_op(line);
}

Op read_jsonl_line_general(std::string_view line, int64_t line_no, const std::string& source) {
  std::string_view l = trim(line);
  check_json_text(l, source, line_no);
  Json j = Json::parse(l.begin(), l.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    fail_at(source, line_no,
            !l.empty() && l.front() == '{' && l.back() != '}' ? "truncated JSON object (torn line?)"
                                                              : "not a JSON object");
  }
  if (!j.is_object()) fail_at(source, line_no, "expected a JSON object, found " + json_text(j));
  EdnReader helper("", source);
  return helper.op_from_map(std::move(j), line_no);
}

std::string to_edn(const Json& value) {
  std::string out;
  write_edn(out, value);
  return out;
}

HistoryFormat detect_format(std::string_view text) {
  HistoryFormat result = HistoryFormat::kEdn;
  bool decided = false;
  for_each_line(text, [&](std::string_view raw, int64_t) {
    if (decided) return;
    std::string_view l = trim(raw);
    if (l.empty() || l.front() == ';') return;
    decided = true;
    if (l.find(kLogMarker) != std::string_view::npos || l.starts_with("INFO")) {
      result = HistoryFormat::kJepsenLog;
    } else if (l.front() == '{') {
      std::string_view rest = trim(l.substr(1));
      if (!rest.empty() && rest.front() == '"') {
        result = HistoryFormat::kJsonl;
      } else if (l.find(":key ") != std::string_view::npos) {
        result = HistoryFormat::kPorcupineKv;
      }
    }
  });
  // A log file may start with other log lines: look for the marker anywhere in the head.
  if (!decided || result == HistoryFormat::kEdn) {
    if (text.substr(0, 1 << 16).find(kLogMarker) != std::string_view::npos) {
      result = HistoryFormat::kJepsenLog;
    }
  }
  return result;
}

std::vector<Op> read_ops(std::string_view text, HistoryFormat format, const std::string& source) {
  switch (format) {
    case HistoryFormat::kJsonl:
      return read_jsonl_ops(text, source);
    case HistoryFormat::kJepsenLog:
      return read_log_ops(text, source);
    case HistoryFormat::kEdn:
    case HistoryFormat::kPorcupineKv:
      return read_edn_ops(text, source);
  }
  return {};
}

LoadedHistory load_history_text(std::string_view text, const std::string& source,
                                std::optional<HistoryFormat> format) {
  HistoryFormat f = format ? *format : detect_format(text);
  if (text.find('\0') != std::string_view::npos) {
    int64_t line = 1;
    for (char c : text.substr(0, text.find('\0'))) line += c == '\n';
    fail_at(source, line, "binary data (NUL byte) in a history file");
  }
  std::vector<Op> ops = read_ops(text, f, source);
  return {History::build_or_throw(std::move(ops), source), f};
}

LoadedHistory load_history_file(const std::string& path, std::optional<HistoryFormat> format) {
  // A regular file is mapped rather than copied (a million-transaction history is 300 MB of
  // text). It must not shrink while it is read; history files are complete when checked.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    struct stat st {};
    const bool mappable = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0;
    void* p = mappable
                  ? ::mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE, fd, 0)
                  : MAP_FAILED;
    ::close(fd);
    if (p != MAP_FAILED) {
      const size_t size = static_cast<size_t>(st.st_size);
      struct Unmap {
        void* p;
        size_t n;
        ~Unmap() { ::munmap(p, n); }
      } unmap{p, size};
      ::madvise(p, size, MADV_SEQUENTIAL);
      return load_history_text(std::string_view(static_cast<const char*>(p), size), path, format);
    }
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw HistoryError(
        path, {HistoryProblem{0, -1, std::string("cannot open: ") + std::strerror(errno)}});
  }
  // One read into a string of the file's size (no stream buffer copies); a stream whose size
  // is unknown (a pipe) is read through a string stream.
  std::string text;
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size >= 0) {
    in.seekg(0, std::ios::beg);
    text.resize(static_cast<size_t>(size));
    in.read(text.data(), size);
    text.resize(static_cast<size_t>(in.gcount()));
  } else {
    in.clear();
    std::ostringstream buf;
    buf << in.rdbuf();
    text = std::move(buf).str();
  }
  return load_history_text(text, path, format);
}

std::string op_to_jsonl(const Op& op) {
  std::string out = "{\"index\":" + std::to_string(op.index);
  if (op.time_ns != kNoTime) out += ",\"time\":" + std::to_string(op.time_ns);
  out += ",\"process\":";
  out += op.is_nemesis() ? std::string("\"nemesis\"") : std::to_string(op.process);
  out += ",\"type\":\"";
  out += to_string(op.type);
  out += "\",\"f\":" + json_text(op.f);
  out += ",\"value\":" + json_text(op.value);
  if (!op.node.empty()) out += ",\"node\":" + json_text(op.node);
  if (!op.error.is_null()) out += ",\"error\":" + json_text(op.error);
  for (const auto& [k, e] : op.extra.items()) {
    out += "," + json_text(k) + ":" + json_text(e);
  }
  out += "}";
  return out;
}

void write_jsonl_op(std::ostream& out, const Op& op) { out << op_to_jsonl(op) << '\n'; }

void write_history(std::ostream& out, const History& history, HistoryFormat format) {
  switch (format) {
    case HistoryFormat::kJsonl:
      for (const Op& op : history) write_jsonl_op(out, op);
      return;
    case HistoryFormat::kEdn:
      out << "[";
      for (size_t i = 0; i < history.size(); ++i) {
        out << (i == 0 ? "" : "\n ") << op_to_edn(history[i], false);
      }
      out << "]\n";
      return;
    case HistoryFormat::kPorcupineKv:
      for (const Op& op : history) out << op_to_edn(op, true) << '\n';
      return;
    case HistoryFormat::kJepsenLog:
      for (const Op& op : history) {
        // f as a keyword when it reads back as one, else as an EDN string: a raw f with a tab,
        // newline or space would split the line or add lines (one op per line, always).
        std::string f;
        if (is_keyword_text(op.f)) {
          f = ":" + op.f;
        } else {
          write_edn_string(f, op.f);
        }
        std::string v;
        write_edn(v, op.type == OpType::kInfo && !op.error.is_null() ? op.error : op.value);
        out << "INFO  jepsen.util - "
            << (op.is_nemesis() ? std::string(":nemesis") : std::to_string(op.process))
            << "\t:" << to_string(op.type) << "\t" << f << "\t" << v << '\n';
      }
      return;
  }
}

}  // namespace faultline
