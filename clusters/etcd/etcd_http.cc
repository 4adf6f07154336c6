#include "clusters/etcd/etcd_http.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <mutex>

namespace faultline::etcd {
namespace {

size_t append_body(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// CURLOPT_DEBUGFUNCTION (called only with CURLOPT_VERBOSE): libcurl reports HEADER_OUT and
// DATA_OUT after the bytes were written to the socket, with the count written.
int on_debug(CURL*, curl_infotype type, char*, size_t size, void* attempt) {
  if ((type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT) && size > 0) {
    static_cast<EtcdHttp::Attempt*>(attempt)->bytes_out += size;
  }
  return 0;
}

// CURLOPT_OPENSOCKETFUNCTION: a socket opened after request bytes went out during the same
// post() could only carry libcurl's silent second attempt; refuse it (the perform then fails
// with CURLE_COULDNT_CONNECT).
curl_socket_t on_open_socket(void* attempt, curlsocktype, curl_sockaddr* address) {
  auto* a = static_cast<EtcdHttp::Attempt*>(attempt);
  if (a->bytes_out > 0) {
    a->resend_refused = true;
    return CURL_SOCKET_BAD;
  }
  return ::socket(address->family, address->socktype, address->protocol);
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
  // At most one cached connection, so a retry could not pick another one silently either.
  curl_easy_setopt(c, CURLOPT_MAXCONNECTS, 1L);
  curl_easy_setopt(c, CURLOPT_DEBUGFUNCTION, on_debug);
  curl_easy_setopt(c, CURLOPT_DEBUGDATA, &attempt_);
  curl_easy_setopt(c, CURLOPT_VERBOSE, 1L);  // only to get on_debug called; it prints nothing
  curl_easy_setopt(c, CURLOPT_OPENSOCKETFUNCTION, on_open_socket);
  curl_easy_setopt(c, CURLOPT_OPENSOCKETDATA, &attempt_);
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
  attempt_ = Attempt{};
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, nullptr);
  fresh_connect_ = false;
  if (rc == CURLE_OK) {
    r.kind = HttpResult::Kind::kAnswer;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r.status);
    return r;
  }
  r.error = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  // Whatever the error, a request of which no byte was written cannot have reached etcd; one
  // of which some were may have been applied (even when the last error is "connection
  // refused": it then came from the re-send that on_open_socket refused).
  r.sent = attempt_.bytes_out > 0;
  if (!r.sent) {
    r.kind = HttpResult::Kind::kNotConnected;
  } else if (attempt_.resend_refused) {
    r.kind = HttpResult::Kind::kTransport;
    r.error = "closed after the request was sent (" + std::to_string(attempt_.bytes_out) +
              " bytes out; not sent again)";
  } else if (rc == CURLE_OPERATION_TIMEDOUT) {
    r.kind = HttpResult::Kind::kTimeout;
  } else {
    r.kind = HttpResult::Kind::kTransport;
  }
  // A broken connection is not reused: the next post connects afresh.
  fresh_connect_ = true;
  return r;
}

}  // namespace faultline::etcd
