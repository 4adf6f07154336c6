// The topologies of MariaDB asynchronous replication (clusters/mariadb/async_db.h): which
// masters each node replicates from, and the node counts each topology refuses.
#include <catch2/catch.hpp>

#include "clusters/mariadb/async_db.h"

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
