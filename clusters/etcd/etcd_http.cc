#include "clusters/etcd/etcd_http.h"

#include <curl/curl.h>

#include <algorithm>
#include <mutex>

namespace faultline::etcd {
namespace {

size_t append_body(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

void global_init() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

EtcdHttp::EtcdHttp(std::string base_url) : base_url_(std::move(base_url)) {
  global_init();
  CURL* c = curl_easy_init();
  curl_ = c;
  if (!c) return;                             // post() then answers kNotConnected
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);  // thread-safe timeouts
  curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, append_body);
  curl_easy_setopt(c, CURLOPT_PROXY, "");  // never through an http_proxy of the environment
  curl_slist* h = nullptr;
  h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, "Expect:");  // no 100-continue round trip
  headers_ = h;
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
}

EtcdHttp::~EtcdHttp() {
  if (curl_) curl_easy_cleanup(static_cast<CURL*>(curl_));
  if (headers_) curl_slist_free_all(static_cast<curl_slist*>(headers_));
}

HttpResult EtcdHttp::post(const std::string& path, const std::string& json_body,
                          std::chrono::milliseconds timeout) {
  HttpResult r;
  CURL* c = static_cast<CURL*>(curl_);
  if (!c) {
    r.kind = HttpResult::Kind::kNotConnected;
    r.sent = false;
    r.error = "curl_easy_init failed";
    return r;
  }
  long ms = std::max<long>(1, static_cast<long>(timeout.count()));
  std::string url = base_url_ + path;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_POST, 1L);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body.c_str());
  curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, ms);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min<long>(ms, 3000));
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &r.body);
  curl_easy_setopt(c, CURLOPT_FRESH_CONNECT, fresh_connect_ ? 1L : 0L);
  char errbuf[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  fresh_connect_ = false;
  if (rc == CURLE_OK) {
    r.kind = HttpResult::Kind::kAnswer;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }
  r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  // curl's messages for the connect phase ("Failed to connect ...", "Connection timed out
  // after ...") mean no request byte went out; "Operation timed out" and the rest may not.
  bool connect_phase = r.error.rfind("Failed to connect", 0) == 0 ||
                       r.error.rfind("Connection timed out", 0) == 0 ||
                       r.error.rfind("Could not resolve", 0) == 0;
  switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
      r.kind = HttpResult::Kind::kNotConnected;
      r.sent = false;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      r.kind = connect_phase ? HttpResult::Kind::kNotConnected : HttpResult::Kind::kTimeout;
      r.sent = !connect_phase;
      break;
    default:
      r.kind = HttpResult::Kind::kTransport;
      r.sent = true;
      break;
  }
  // A broken connection is not reused: the next post connects afresh.
  fresh_connect_ = true;
  return r;
}

}  // namespace faultline::etcd
