#pragma once
// Distributed setup for data-parallel training: where this process sits in the job (from the
// variables torchrun or Slurm set), a c10d process group joined through a TCPStore (Gloo on CPU,
// NCCL for CUDA devices when LibTorch has it), and the GradientReducer the trainer calls.
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "mr2ct/models/GradientReducer.h"

namespace mr2ct {

/// This process's place in a distributed job.
struct DistributedContext {
  int rank = 0;
  int worldSize = 1;
  int localRank = 0;          ///< rank on this node (device cuda:localRank)
  std::string masterAddr;     ///< host of rank 0's TCPStore
  int masterPort = 29500;
  std::string launcher;       ///< "torchrun" or "slurm" (the variables read)
  bool distributed() const { return worldSize > 1; }

  /// From torchrun's RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT, else from an srun
  /// step's SLURM_PROCID, SLURM_STEP_NUM_TASKS (or SLURM_NTASKS), SLURM_LOCALID with MASTER_ADDR
  /// defaulting to the first host of SLURM_JOB_NODELIST and MASTER_PORT to 20000 + SLURM_JOB_ID
  /// mod 10000 (jobs sharing a node do not collide). Nothing set: one process. UsageError naming
  /// the variable when one is malformed. `env` overrides the process environment (tests).
  static DistributedContext fromEnvironment(const std::map<std::string, std::string>* env = nullptr);
};

/// "node[03-05,9],gpu1" -> "node03"; "rack[2-3]-ib" -> "rack2-ib"; "a,b" -> "a"; "host" -> "host".
std::string firstSlurmHost(const std::string& nodelist);

/// Joins the process group of `context` (rank 0 serves the TCPStore) on `device` ("cpu" or
/// "cuda[:N]"). Every collective, the rendezvous included, fails with one Error line after
/// `timeout` when a rank died or hangs.
std::unique_ptr<GradientReducer> joinProcessGroup(const DistributedContext& context, const std::string& device,
                                                  std::chrono::seconds timeout);

}  // namespace mr2ct
