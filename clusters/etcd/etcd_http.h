// EtcdHttp: JSON POSTs to one etcd member's v3 HTTP gateway (http://<host>:<port>/v3/...)
// over libcurl. libcurl is included only by etcd_http.cc.
//
// Contract: post() never throws for anything the network or the server does; it says what
// happened as a value: an HTTP answer (any status), a timeout, a refused connection, or a
// connection that broke. `sent` tells whether any byte of the request may have reached the
// server, which is what decides fail (certainly not applied) against info for a write.
// The connection is kept alive between posts (one TCP connection per object).
//
// A request goes out at most once per post(). libcurl, when a kept-alive connection dies
// before any answer byte arrived, silently sends the request again on a fresh connection; the
// final error then belongs to that second attempt ("connection refused" from a node killed
// after it received, and maybe applied, the first). post() counts the request bytes libcurl
// writes to any socket (its debug callback: HEADER_OUT / DATA_OUT), refuses to open a socket
// once some were written (so there is no second attempt), and says `sent = false` only when
// none were written.
//
// Thread safety: one object per thread (a libcurl easy handle is not shareable);
// construction is safe from any thread (curl_global_init runs once).
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace faultline::etcd {

struct HttpResult {
  enum class Kind {
    kAnswer,        // an HTTP answer arrived: status and body
    kTimeout,       // no complete answer within the timeout
    kNotConnected,  // no request byte was written to any socket (refused, unreachable,
                    // connect timeout, a dead kept-alive connection noticed before sending)
    kTransport,     // the connection broke after request bytes went out, or another error
  };
  Kind kind = Kind::kTransport;
  long status = 0;
  std::string body;
  std::string error;  // curl's message for the non-answers
  bool sent = true;   // false only when no request byte was written to any socket
};

class EtcdHttp {
 public:
  // base_url: "http://10.77.212.11:2379".
  explicit EtcdHttp(std::string base_url);
  ~EtcdHttp();
  EtcdHttp(const EtcdHttp&) = delete;
  EtcdHttp& operator=(const EtcdHttp&) = delete;

  // POSTs `json_body` to base_url + path ("/v3/kv/range"), waiting at most `timeout` for the
  // whole exchange (at least 1 ms).
  HttpResult post(const std::string& path, const std::string& json_body,
                  std::chrono::milliseconds timeout);
  const std::string& base_url() const { return base_url_; }

  // What libcurl did during the current post(); its callbacks write here.
  struct Attempt {
    size_t bytes_out = 0;         // request bytes written to a socket (headers and body)
    bool resend_refused = false;  // a socket was refused after bytes had gone out
  };

 private:
  std::string base_url_;
  Attempt attempt_;
  void* curl_ = nullptr;     // CURL*
  void* headers_ = nullptr;  // curl_slist*
  bool fresh_connect_ = false;
};

}  // namespace faultline::etcd
