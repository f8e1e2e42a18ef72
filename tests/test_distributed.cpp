// Where a process sits in a distributed job, from the variables torchrun and Slurm set
// (DistributedContext::fromEnvironment, firstSlurmHost). The collectives themselves run in
// tests/integration/distributed_train.sh and slurm_cluster.sh with real processes.
#include <gtest/gtest.h>

#include <map>
#include <string>

#include "mr2ct/core/Error.h"
#include "mr2ct/pipeline/Distributed.h"

namespace mr2ct {
namespace {

using Env = std::map<std::string, std::string>;

TEST(Distributed, FirstSlurmHostExpandsTheFirstNameOfAHostlist) {
  EXPECT_EQ(firstSlurmHost("node[03-05,9],gpu1"), "node03");
  EXPECT_EQ(firstSlurmHost("gpu[7,2-3]"), "gpu7");
  EXPECT_EQ(firstSlurmHost("rack[2-3]-ib,login"), "rack2-ib");
  EXPECT_EQ(firstSlurmHost("a,b"), "a");
  EXPECT_EQ(firstSlurmHost("host"), "host");
  EXPECT_EQ(firstSlurmHost("n[001-128]"), "n001");  // zero padding kept
}

TEST(Distributed, NothingSetIsOneProcess) {
  const Env none;
  const auto c = DistributedContext::fromEnvironment(&none);
  EXPECT_EQ(c.worldSize, 1);
  EXPECT_EQ(c.rank, 0);
  EXPECT_FALSE(c.distributed());
  // A batch script's own shell has SLURM_PROCID but is not an srun step: still one process.
  const Env batchShell{{"SLURM_PROCID", "0"}, {"SLURM_NTASKS", "4"}, {"SLURM_JOB_ID", "77"}};
  EXPECT_FALSE(DistributedContext::fromEnvironment(&batchShell).distributed());
}

TEST(Distributed, TorchrunVariables) {
  const Env env{{"WORLD_SIZE", "4"}, {"RANK", "3"}, {"LOCAL_RANK", "1"}, {"MASTER_ADDR", "10.0.0.5"},
                {"MASTER_PORT", "29511"}};
  const auto c = DistributedContext::fromEnvironment(&env);
  EXPECT_EQ(c.launcher, "torchrun");
  EXPECT_EQ(c.worldSize, 4);
  EXPECT_EQ(c.rank, 3);
  EXPECT_EQ(c.localRank, 1);
  EXPECT_EQ(c.masterAddr, "10.0.0.5");
  EXPECT_EQ(c.masterPort, 29511);
}

TEST(Distributed, SrunStepVariablesWithTheRendezvousFromTheJob) {
  const Env env{{"SLURM_PROCID", "5"},        {"SLURM_STEP_ID", "0"},  {"SLURM_STEP_NUM_TASKS", "8"},
                {"SLURM_NTASKS", "16"},       {"SLURM_LOCALID", "1"},  {"SLURM_JOB_NODELIST", "gpu[12-15]"},
                {"SLURM_JOB_ID", "1234567"}};
  const auto c = DistributedContext::fromEnvironment(&env);
  EXPECT_EQ(c.launcher, "slurm");
  EXPECT_EQ(c.worldSize, 8);  // the step's tasks, not the allocation's
  EXPECT_EQ(c.rank, 5);
  EXPECT_EQ(c.localRank, 1);
  EXPECT_EQ(c.masterAddr, "gpu12");
  EXPECT_EQ(c.masterPort, 20000 + 1234567 % 10000);
  Env explicitAddr = env;
  explicitAddr["MASTER_ADDR"] = "head";
  explicitAddr["MASTER_PORT"] = "4000";
  const auto d = DistributedContext::fromEnvironment(&explicitAddr);
  EXPECT_EQ(d.masterAddr, "head");
  EXPECT_EQ(d.masterPort, 4000);
}

TEST(Distributed, MalformedVariablesAreUsageErrorsNamingThem) {
  auto message = [](const Env& env) {
    try {
      DistributedContext::fromEnvironment(&env);
    } catch (const UsageError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message({{"WORLD_SIZE", "two"}, {"RANK", "0"}, {"MASTER_ADDR", "h"}}).find("WORLD_SIZE"), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "-1"}, {"MASTER_ADDR", "h"}}).find("RANK"), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "2"}, {"MASTER_ADDR", "h"}}).find("not below the world size"),
            std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "1"}}).find("MASTER_ADDR is not set"), std::string::npos);
  EXPECT_NE(message({{"WORLD_SIZE", "2"}, {"RANK", "1"}, {"MASTER_ADDR", "h"}, {"MASTER_PORT", "x"}}).find("MASTER_PORT"),
            std::string::npos);
}

}  // namespace
}  // namespace mr2ct
