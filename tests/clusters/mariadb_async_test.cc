// The topologies of MariaDB asynchronous replication (clusters/mariadb/async_db.h): which
// masters each node replicates from, and the node counts each topology refuses.
#include <catch2/catch.hpp>

#include "clusters/mariadb/async_db.h"
#include "clusters/mariadb/server.h"

using namespace faultline;

TEST_CASE("mariadb-async: topologies name each node's masters", "[mariadb-async]") {
  using mariadb::async_masters;
  CHECK(async_masters("ring", {"a", "b", "c"}) ==
        std::map<std::string, std::vector<std::string>>{{"a", {"c"}}, {"b", {"a"}}, {"c", {"b"}}});
  CHECK(async_masters("master-master", {"a", "b"}) ==
        std::map<std::string, std::vector<std::string>>{{"a", {"b"}}, {"b", {"a"}}});
  CHECK(async_masters("multi-source", {"a", "b", "c"}).at("b") ==
        std::vector<std::string>{"a", "c"});
  CHECK_THROWS_WITH(async_masters("master-master", {"a", "b", "c"}),
                    Catch::Contains("exactly 2 nodes"));
  CHECK_THROWS_WITH(async_masters("ring", {"a"}), Catch::Contains("at least 2"));
  CHECK_THROWS_WITH(async_masters("star", {"a", "b"}), Catch::Contains("one of"));
}

TEST_CASE("mariadb: server versions named as a reader names them", "[mariadb][report]") {
  using mariadb::server_version_words;
  CHECK(server_version_words("/usr/sbin/mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for "
                             "debian-linux-gnu on x86_64 (Debian 12)\n") ==
        "MariaDB 10.11.19 (10.11.19-MariaDB-0+deb12u1)");
  CHECK(server_version_words("/usr/sbin/mysqld  Ver 8.0.36 for Linux on x86_64 (MySQL "
                             "Community Server - GPL)") == "MySQL 8.0.36 (8.0.36)");
  CHECK(server_version_words("/usr/sbin/mysqld  Ver 8.0.35-27.1 for Linux on x86_64 (Percona "
                             "XtraDB Cluster (GPL), Release rel27, WSREP version 26.1.4.3)") ==
        "Percona XtraDB Cluster 8.0.35-27.1 (8.0.35-27.1)");
  CHECK(server_version_words("  something else \n") == "something else");
}
