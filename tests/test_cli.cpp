#include <gtest/gtest.h>
#include <sys/wait.h>

#include <hdf5.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include "mr2ct/core/OptionError.h"
#include "mr2ct/models/ModelFolder.h"
#include "mr2ct/models/OdeSolver.h"
#include "mr2ct/pipeline/Command.h"
#include "mr2ct/preprocessing/InputTypicality.h"
#include "mr2ct/preprocessing/SpatialTransform.h"
#include "mr2ct/preprocessing/TrainingStore.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/CliRun.h"
#include "support/TestSupport.h"

namespace mr2ct {
namespace {

struct Run {
  int code = 0;
  std::string out, err;
};

Run cli(std::vector<std::string> args) {
  Run r;
  r.code = test::cli(std::move(args), &r.out, &r.err);
  return r;
}

/// Runs the real executable (exit status as the shell sees it).
Run exe(const std::string& args) {
  const std::string cmd = std::string(MR2CT_EXE) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (auto n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WEXITSTATUS(status), out, ""};
}

TEST(Cli, HelpAndVersionExitZero) {
  auto r = exe("--help");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("info"), std::string::npos);
  r = exe("--version");
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find(MR2CT_VERSION), std::string::npos);
  for (const auto& c : allCommands()) {
    auto h = cli({c.name, "--help"});
    EXPECT_EQ(h.code, 0) << c.name;
    EXPECT_NE(h.out.find("Example"), std::string::npos) << c.name;
    // Boost prints a double's default with 17 digits (0.050000000000000003): realValue must be used.
    EXPECT_FALSE(std::regex_search(h.out, std::regex("[0-9]{9}\\)"))) << c.name << ":\n" << h.out;
  }
  EXPECT_NE(cli({"train", "--help"}).out.find("--jitter arg (=0.05)"), std::string::npos);
}

TEST(Cli, UsageErrorsExitTwoWithOneLine) {
  auto r = exe("frobnicate");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_NE(r.out.find("unknown command 'frobnicate'"), std::string::npos);
  r = exe("info --no-such-option x");
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(std::count(r.out.begin(), r.out.end(), '\n'), 1) << r.out;
  EXPECT_EQ(exe("").code, 2);
}

TEST(Cli, NumberListsAreParsedWholeOrRefused) {
  // One parser for every list option: an empty, partial or non-integer item is a usage error
  // (--patch 64x6y was read as 64x6 before).
  const std::vector<std::pair<std::vector<std::string>, std::string>> bad{
      {{"train", "--store", "s.h5", "--out", "m", "--patch", "64x6y"}, "--patch: '64x6y' is not"},
      {{"convert", "--model", "m", "--input", "a.nii", "--output", "b.nii", "--nfe-sweep", "1,,4"},
       "--nfe-sweep: '1,,4' is not"},
      {{"convert", "--model", "m", "--input", "a.nii", "--output", "b.nii", "--nfe-sweep", "2.5"},
       "--nfe-sweep: '2.5' is not"},
      {{"preprocess", "--manifest", "m.csv", "--out", "s.h5", "--spacing", "1,x,1"}, "--spacing: '1,x,1' is not"},
      {{"phantom", "--out", "p", "--size", "48,56,"}, "--size: '48,56,' is not"}};
  for (const auto& [args, message] : bad) {
    const auto r = cli(args);
    EXPECT_EQ(r.code, 2) << args[0] << " " << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << r.err;
  }
}

TEST(Cli, ASeriesSelectorForAFileIsRefusedNotIgnored) {
  test::TempDir dir;
  const std::string file = (dir / "mr.nii.gz").string();
  std::ofstream(file) << "not read: the selector is checked first";
  const std::vector<std::vector<std::string>> calls{
      {"baseline", "bulk-density", "--input", file, "--output", (dir / "b.nii.gz").string(), "--dicom-series", "9"},
      {"evaluate", "--pred", file, "--ref", file, "--dicom-series", "9"},
      {"likelihood", "--model", dir.path().string(), "--input", file, "--ct", file, "--ct-series", "9"}};
  for (const auto& args : calls) {
    const auto r = cli(args);
    EXPECT_EQ(r.code, 2) << args[0] << ": " << r.err;
    EXPECT_NE(r.err.find(file + " is a file, not a DICOM folder"), std::string::npos) << r.err;
  }
}

TEST(Cli, MissingInputExitsOneNamingTheFile) {
  auto r = exe("info /no/such/volume.nii.gz");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.out.find("/no/such/volume.nii.gz: file not found"), std::string::npos) << r.out;
}

TEST(Cli, InfoJsonDescribesGeometry) {
  test::TempDir dir;
  const Volume v = test::makeIdentifiableVolume();
  writeVolume(v, dir / "v.mha");
  auto r = cli({"info", (dir / "v.mha").string(), "--json", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("\"format\": \"MetaImage\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"size\""), std::string::npos);
  EXPECT_NE(r.out.find("\"max\": 20406.0"), std::string::npos) << r.out;
}

TEST(Cli, InfoDescribesATrainingStoreAndNamesOtherHdf5Files) {
  test::TempDir dir;
  const Volume mr = test::makeIdentifiableVolume({6, 5, 4});
  {
    TrainingStoreWriter w(dir / "store.h5", {{"preprocessing_options",
                                              {{"mr_normalization", {{"method", "percentile"}}}, {"spacing", nullptr}}}});
    for (const auto& [id, split] : std::vector<std::pair<std::string, std::string>>{
             {"a", "train"}, {"b", "train"}, {"c", "val"}}) {
      StoredCaseInfo info;
      info.id = id;
      info.split = split;
      info.geometry = mr.geometry();
      w.writeCase(info, mr, mr, Mask(mr.geometry(), 1), Mask(mr.geometry(), 1));
    }
    w.commit();
  }
  auto r = cli({"info", (dir / "store.h5").string(), "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("mr2ct training store-2"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cases       3: 2 train, 1 val"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"method\":\"percentile\""), std::string::npos) << r.out;
  r = cli({"info", (dir / "store.h5").string(), "--json", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["cases"], 3);
  EXPECT_EQ(j["splits"]["train"], 2);
  EXPECT_EQ(j["format_version"], kTrainingStoreFormatVersion);

  // An HDF5 file that is not a store (h5py, MINC-2, ...), with the old superblock (HDF5's default)
  // or the store's: one line, exit 1.
  for (const bool latest : {false, true}) {
    const std::string f = (dir / "other.h5").string();
    const hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (latest) H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST);
    const hid_t h = H5Fcreate(f.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    H5Pclose(fapl);
    ASSERT_GE(h, 0);
    H5Fclose(h);
    r = cli({"info", f, "--quiet"});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("other.h5: HDF5 (not an mr2ct training store"), std::string::npos) << r.err;
  }
  // A store cut short is refused by the store's own reader, naming the file.
  {
    std::ifstream in(dir / "store.h5", std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::ofstream(dir / "cut.h5", std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  r = cli({"info", (dir / "cut.h5").string(), "--quiet"});
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("cut.h5"), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
}

TEST(Cli, ConfigFileSuppliesOptions) {
  test::TempDir dir;
  writeVolume(test::makeIdentifiableVolume(), dir / "v.mha");
  const auto ini = dir / "c.ini";
  std::ofstream(ini) << "json = true\n";
  auto r = cli({"info", (dir / "v.mha").string(), "--config", ini.string()});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out.substr(0, 1), "{");  // JSON (substr: an empty output fails, not UB)
  std::ofstream(ini) << "no_such_key = 3\n";
  EXPECT_EQ(cli({"info", (dir / "v.mha").string(), "--config", ini.string()}).code, 2);
}

TEST(Cli, PhantomWritesCasesAndManifest) {
  test::TempDir dir;
  const auto out = dir / "ph";
  auto r = cli({"phantom", "--out", out.string(), "--cases", "3", "--seed", "4", "--size", "48,56,40", "--spacing",
                "3.5", "--mr-spacing", "3.8,4.2", "--threads", "1", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("wrote 3 phantom case(s)"), std::string::npos) << r.out;
  EXPECT_TRUE(std::filesystem::exists(out / "manifest.csv"));
  EXPECT_TRUE(std::filesystem::exists(out / "case002" / "true_transform.tfm"));
  // Bad values are usage errors naming the option.
  r = cli({"phantom", "--out", out.string(), "--size", "48,56"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--size"), std::string::npos) << r.err;
  EXPECT_EQ(cli({"phantom", "--cases", "2"}).code, 2);  // no --out
}

// ---- the quick demo: one run, checked stage by stage ------------------------------------------

/// The model carries the input check's reference, fitted on every train case of the store.
void expectInputReferenceFittedOnTheStore(const std::filesystem::path& run) {
  const std::size_t trainCases = TrainingStore::open(run / "store.h5").caseIds("train").size();
  ASSERT_GE(trainCases, TypicalityReference::kMinimumCases);
  const ModelConfig model = loadModelConfig(run / "model");
  const auto reference = TypicalityReference::fromJson(model.inputReference, "config.json");
  EXPECT_EQ(reference.cases, trainCases);
  EXPECT_GT(reference.threshold, 0.0);
}

/// The resolved options include the defaults that depend on other options (σ on the source).
void expectTrainIniResolvesDependentDefaults(const std::filesystem::path& run) {
  std::ifstream in(run / "config" / "train.ini");
  const std::string ini((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::ostringstream sigma;
  sigma << "\nsigma = " << FlowConfig::defaultSigma("mr") << "\n";
  EXPECT_NE(ini.find(sigma.str()), std::string::npos) << ini;
  EXPECT_NE(ini.find("\npatch = "), std::string::npos) << ini;
}

/// --resume on a store prepared another way is refused, naming the option (the model would train
/// on inputs its config.json never prepares); the same store resumes (kill_resume.sh).
void expectResumeRefusesAStorePreparedAnotherWay(const test::TempDir& dir, const std::filesystem::path& run) {
  nlohmann::json changed = {
      {"preprocessing_options", TrainingStore::open(run / "store.h5").rootAttributes().at("preprocessing_options")}};
  changed["preprocessing_options"]["mr_normalization"]["high_percentile"] = 98.0;
  {
    TrainingStoreWriter w(dir / "other.h5", changed);
    w.copyCasesFrom(run / "store.h5");
    w.commit();
  }
  const auto refused = cli({"train", "--store", (dir / "other.h5").string(), "--out", (run / "model").string(),
                            "--resume", "--threads", "1", "--quiet"});
  EXPECT_EQ(refused.code, 2) << refused.err;
  EXPECT_NE(refused.err.find("option 'mr_normalization' differs"), std::string::npos) << refused.err;
}

/// Every synthetic CT lies on its input MR's exact grid.
void expectEverySyntheticCtOnItsMrGrid(const std::filesystem::path& out, const std::filesystem::path& run) {
  int converted = 0;
  for (const auto& e : std::filesystem::directory_iterator(run / "sct")) {
    const std::string name = e.path().filename().string();
    if (name.size() < 8 || name.substr(name.size() - 7) != ".nii.gz") continue;
    const std::string id = name.substr(0, name.size() - 7);
    const Volume sct = readVolume(e.path());
    const Volume mr = readVolume(out / "data" / id / "mr.nii.gz");
    EXPECT_TRUE(sct.geometry().sameAs(mr.geometry(), 1e-5)) << sct.geometry().differenceFrom(mr.geometry());
    EXPECT_GE(sct.range().min, -1024.f);
    EXPECT_LE(sct.range().max, 3000.f);
    ++converted;
  }
  EXPECT_GE(converted, 1);
}

/// Metrics count only voxels the CT covers (issue 13, defect 14): every voxel of an evaluation
/// mask maps, through the registration preprocess found, inside the raw CT's grid.
void expectEvaluationMasksInsideTheCt(const std::filesystem::path& out, const std::filesystem::path& run) {
  int masks = 0;
  for (const auto& e : std::filesystem::directory_iterator(run / "reference")) {
    const std::string name = e.path().filename().string();
    if (name.size() < 13 || name.substr(name.size() - 12) != "_mask.nii.gz") continue;
    const std::string id = name.substr(0, name.size() - 12);
    const Mask mask = readMask(e.path());
    const Geometry ct = readVolumeInfo(out / "data" / id / "ct.nii.gz").geometry;
    const SpatialTransform t = SpatialTransform::load(run / "qa" / (id + ".tfm"));
    std::size_t outside = 0;
    for (std::size_t z = 0; z < mask.size()[2]; ++z)
      for (std::size_t y = 0; y < mask.size()[1]; ++y)
        for (std::size_t x = 0; x < mask.size()[0]; ++x) {
          if (!mask.at(x, y, z)) continue;
          const Vec3 i =
              ct.physicalToIndex(t.apply(mask.geometry().indexToPhysical({double(x), double(y), double(z)})));
          for (int a = 0; a < 3; ++a) outside += i[a] < -0.5 || i[a] > double(ct.size[a]) - 0.5;
        }
    EXPECT_EQ(outside, 0u) << id;
    EXPECT_GT(mask.count(), 0u) << id;
    ++masks;
  }
  EXPECT_GE(masks, 1);
}

TEST(Cli, QuickDemoRunsTheWholePipeline) {
  // The demo on tiny phantoms: phantom -> preprocess -> train -> convert -> evaluate (+ baseline).
  // One thread: ctest runs tests side by side, and OpenMP threads on an oversubscribed machine
  // spin-wait at every barrier (a 10 s run became 4 minutes under load).
  test::TempDir dir;
  const auto out = dir / "demo";
  auto r = cli({"demo", "--out", out.string(), "--quick", "--cases", "5", "--size", "48,48,40", "--spacing", "3.5",
                "--mr-spacing", "3.8,4.2", "--threads", "1", "--quiet"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("mr2ct (flow matching)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("bulk-density baseline"), std::string::npos) << r.out;
  const auto run = out / "run";
  EXPECT_TRUE(std::filesystem::exists(run / "store.h5"));
  EXPECT_TRUE(std::filesystem::exists(run / "model" / "weights.pt"));
  EXPECT_TRUE(std::filesystem::exists(run / "report" / "summary.json"));
  EXPECT_TRUE(std::filesystem::exists(run / "config" / "train.ini"));
  // A fatal failure in a check stops the test, as it did when the checks were inline.
  ASSERT_NO_FATAL_FAILURE(expectInputReferenceFittedOnTheStore(run));
  expectTrainIniResolvesDependentDefaults(run);
  expectResumeRefusesAStorePreparedAnotherWay(dir, run);
  expectEverySyntheticCtOnItsMrGrid(out, run);
  expectEvaluationMasksInsideTheCt(out, run);
  // A second run finds every stage done and only prints the table again.
  r = cli({"demo", "--out", out.string(), "--quick", "--cases", "5", "--size", "48,48,40", "--spacing", "3.5",
           "--mr-spacing", "3.8,4.2", "--threads", "1", "--quiet"});
  EXPECT_EQ(r.code, 0) << r.err;
}

// Library errors name an option by its struct field (a library caller's word for it); the command
// line prints the flag (issue 17).
TEST(Cli, LibraryOptionErrorsNameFieldsAndTheCommandLinePrintsFlags) {
  EXPECT_EQ(optionFlag("nfeSweep"), "--nfe-sweep");
  EXPECT_EQ(optionFlag("dicom.patientId"), "--patient-id");
  EXPECT_EQ(optionFlag("solver.method"), "--solver");
  EXPECT_EQ(optionFlag("registration.kind"), "--register");
  const OptionError e("{samples} and {nfeSweep} cannot be combined (value '{a b}')");
  EXPECT_STREQ(e.what(), "samples and nfeSweep cannot be combined (value '{a b}')");
  std::ostringstream err;
  EXPECT_EQ(runReportingErrors([&]() -> int { throw e; }, err), kExitUsage);
  EXPECT_EQ(err.str(), "mr2ct: error: --samples and --nfe-sweep cannot be combined (value '{a b}')\n");
  // End to end: the solver's own check, as a library caller and as the command line read it.
  SolverOptions solver;
  solver.steps = 0;
  EXPECT_EQ(test::thrownMessage<UsageError>([&] { solver.validate(); }), "steps must be at least 1 (got 0)");
  const auto r = cli({"convert", "--model", "m", "--input", "mr.nii.gz", "--output", "sct.nii.gz", "--steps", "0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_EQ(r.err, "mr2ct: error: --steps must be at least 1 (got 0)\n");
}

// `run` reads every [stage] section with that stage's own option declarations before any stage
// runs: an unknown key or a value its option does not take is a usage error naming the file, the
// section and the key, and nothing is written.
TEST(Cli, RunRefusesABadStageOptionBeforeAnyStage) {
  test::TempDir dir;
  const auto data = dir / "ph";
  ASSERT_EQ(cli({"phantom", "--out", data.string(), "--cases", "3", "--size", "48,56,40", "--spacing", "3.5",
                 "--mr-spacing", "3.8,4.2", "--threads", "1", "--quiet"})
                .code,
            0);
  const auto ini = dir / "e.ini";
  const auto work = dir / "work";
  const auto run = [&](const std::string& text) {
    std::ofstream(ini) << text;
    return cli({"run", "--manifest", (data / "manifest.csv").string(), "--work", work.string(), "--config",
                ini.string(), "--threads", "1", "--quiet"});
  };
  auto r = run("[train]\nsteps = 5\nbogus = 1\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(ini.string() + ": [train] has no option 'bogus'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(work)) << "nothing is written before the options are known to be good";
  r = run("[convert]\nsteps = many\n");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find(ini.string() + ": [convert]"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("steps"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(work));
}

}  // namespace
}  // namespace mr2ct
