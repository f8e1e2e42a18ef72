// A DICOM folder holding two series, built from real data (MR2CT_DATA_DIR; skipped without it):
// CT_small.dcm twice, the copy with another SeriesInstanceUID made by editing the UID's bytes.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "mr2ct/core/Error.h"
#include "mr2ct/preprocessing/DicomSeries.h"
#include "mr2ct/preprocessing/VolumeIO.h"
#include "support/MalformedCorpus.h"
#include "support/TestSupport.h"

namespace fs = std::filesystem;

namespace mr2ct {
namespace {

using test::malformed::Bytes;
using test::malformed::slurp;
using test::malformed::spit;

/// A DICOM folder holding two series (the same slice twice, the copy with another
/// SeriesInstanceUID, made by editing the UID's bytes): refused unless a series is chosen.
TEST(MalformedDicom, MixedSeriesFolderRefusedUnlessChosen) {
  MR2CT_REQUIRE_DATA(data);
  const fs::path source = data / "pydicom-ct-small" / "CT_small.dcm";
  if (!fs::exists(source)) GTEST_SKIP() << source << " not present";
  test::TempDir dir;
  const fs::path folder = dir / "mixed";
  fs::create_directories(folder);
  Bytes b = slurp(source);
  spit(folder / "a.dcm", b);
  // (0020,000E) SeriesInstanceUID, explicit VR little endian: tag bytes 20 00 0E 00 'U' 'I' len16.
  const Bytes tag("\x20\x00\x0e\x00UI", 6);
  const auto at = b.find(tag);
  ASSERT_NE(at, Bytes::npos) << "no SeriesInstanceUID element in " << source;
  const std::uint16_t len = std::uint16_t(std::uint8_t(b[at + 6]) | (std::uint8_t(b[at + 7]) << 8));
  ASSERT_GE(len, 4);
  char& last = b[at + 8 + len - 2];  // the last digit (the final byte may be a NUL pad)
  last = last == '9' ? '8' : char(last + 1);
  spit(folder / "b.dcm", b);

  std::string msg;
  try {
    readVolume(folder);
    FAIL() << "a folder with two series was read without choosing one";
  } catch (const Error& e) {
    msg = e.what();
  }
  EXPECT_NE(msg.find(folder.string()), std::string::npos) << msg;
  EXPECT_NE(msg.find("2 DICOM series"), std::string::npos) << msg;
  // Choosing one of the listed series by its UID reads it: one slice. The message lists each as
  // "series N 'description' (UID) MODALITY K images"; both copies share SeriesNumber, so the number
  // alone is refused as ambiguous.
  const auto open = msg.rfind(" ("), close = msg.find(')', open);
  ASSERT_NE(open, std::string::npos) << msg;
  ASSERT_NE(close, std::string::npos) << msg;
  ReadOptions options;
  options.dicomSeries = msg.substr(open + 2, close - open - 2);
  const Volume v = readVolume(folder, options);
  EXPECT_EQ(v.geometry().size[2], 1u);
  ReadOptions byNumber;
  byNumber.dicomSeries = listDicomSeries(folder).front().number;
  EXPECT_NE(test::thrownMessage<DataError>([&] { readVolume(folder, byNumber); }).find("choose one by its UID"), std::string::npos);
}

}  // namespace
}  // namespace mr2ct
