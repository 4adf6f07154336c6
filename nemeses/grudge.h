// Grudges: pure planning of network partitions, as Jepsen's nemesis/combined does.
//
// A Grudge maps each node to the nodes whose packets it drops (an absent node drops nothing).
// Every shape is a pure function of the node list and a Random; none does I/O. Shapes:
//   one              a random node isolated from the rest
//   majority         a random majority (n/2 + 1 nodes) cut off from the minority
//   minority-third   a random group of max(1, (n-1)/3) nodes cut off from the rest
//   halves           the first n/2 nodes (in the given order) cut off from the others
//   random-halves    as halves, on a shuffled order
//   majorities-ring  every node sees (itself and the nodes it does not drop) a majority, and no
//                    two nodes see the same one; symmetric from 4 nodes (ring windows of radius
//                    ceil(k/2) for n = 2k or 2k+1), one-way on 3 nodes (each sees its successor)
//   bridge           two halves that see each other only through one bridge node, which sees all
//   dc               every data centre cut off from the others (`dcs`: node -> its dc, from the
//                    inventory; every node needs one, and there must be 2 dcs or more). Not in
//                    grudge_shapes(): it needs the inventory.
// Shapes that need more nodes than given (majority and halves 2, majorities-ring and bridge 3)
// throw std::invalid_argument.
//
// Thread safety: pure functions.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "harness/op.h"
#include "harness/random.h"

namespace faultline::nemeses {

using Grudge = std::map<std::string, std::set<std::string>>;

// Every node drops every node outside its own component (components are disjoint).
Grudge complete_grudge(const std::vector<std::vector<std::string>>& components);

// The shape names above, in a fixed order.
const std::vector<std::string>& grudge_shapes();

// The grudge of `shape` over `nodes`; throws std::invalid_argument for an unknown shape or too
// few nodes.
Grudge plan_grudge(const std::string& shape, const std::vector<std::string>& nodes, Random& random,
                   const std::map<std::string, std::string>& dcs = {});

// A grudge written in a spec: {"n1": ["n2", "n3"], ...}. Throws std::invalid_argument naming
// the key for a node not in `nodes`, a node dropping itself, or a value that is not a list of
// node names.
Grudge grudge_from_json(const Json& j, const std::vector<std::string>& nodes);
Json grudge_to_json(const Grudge& g);

// Nodes `node` still hears from: itself and every node it does not drop.
std::set<std::string> visible(const Grudge& g, const std::vector<std::string>& nodes,
                              const std::string& node);

}  // namespace faultline::nemeses
