// Writes the fuzzers' seed corpora: small valid inputs of every kind, so that libFuzzer starts from
// real headers instead of random bytes. Usage: fuzz_make_seeds <out-folder>; creates
// <out>/volume/ (first byte = extension selector, as fuzz_volume_reader expects), <out>/manifest/
// (first byte: 0 = CSV, 1 = JSON), <out>/store/ (a small valid HDF5 training store) and
// <out>/dicom/ (a two-slice CT series as fuzz_dicom_series expects: 4-byte split header, files).
#include <itkGDCMImageIO.h>
#include <itkImageFileWriter.h>
#include <itkMetaDataObject.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "mr2ct/preprocessing/TrainingStore.h"
#include "mr2ct/preprocessing/VolumeIO.h"

namespace fs = std::filesystem;
using namespace mr2ct;

namespace {

std::vector<char> slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void writeSeed(const fs::path& path, char prefix, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.put(prefix);
  out.write(bytes.data(), std::streamsize(bytes.size()));
}

Volume tinyVolume(std::array<std::size_t, 3> size) {
  Geometry g;
  g.size = size;
  g.spacing = {0.8, 1.2, 2.5};
  g.origin = {-10.0, 20.0, 5.0};
  g.direction = {0, 1, 0, 1, 0, 0, 0, 0, -1};
  Volume v(g);
  float x = -1000.0f;
  for (auto& voxel : v.voxels()) voxel = (x += 37.5f);
  return v;
}

void volumeSeeds(const fs::path& out, const fs::path& scratch) {
  fs::create_directories(out);
  const char* const ext[] = {".nii", ".nii.gz", ".mha", ".nrrd"};  // same order as the fuzzer
  const Volume v = tinyVolume({4, 3, 2});
  int n = 0;
  for (int e = 0; e < 4; ++e) {
    for (const auto type : {PixelType::Float32, PixelType::Int16, PixelType::UInt8}) {
      for (const bool compress : {false, true}) {
        if (compress && e < 2) continue;  // .nii is never compressed, .nii.gz always
        const fs::path file = scratch / (std::string("v") + ext[e]);
        writeVolume(v, file, {type, compress});
        writeSeed(out / ("seed" + std::to_string(n++)), char(e), slurp(file));
      }
    }
  }
}

void manifestSeeds(const fs::path& out) {
  fs::create_directories(out);
  const std::vector<std::pair<char, std::string>> seeds{
      {0, "id,mr,ct,mask,split\na,a.nii,a.nii,a.nii,train\nb,a.nii,,,test\n"},
      {0, "# data-root: .\n# note: comment\nid,mr,ct,mask,split\r\n\"c,1\",\"a.nii\",,,val\r\n"},
      {0, "\xef\xbb\xbfid,mr\nx,../a.nii\nx,a.nii\ny/z,a.nii\n"},
      {1, R"({"name": "demo", "training": [{"id": "a", "mr": "a.nii", "ct": "a.nii", "mask": "a.nii"}],)"
          R"( "test": [{"id": "t", "mr": "a.nii"}], "validation": [{"id": "v", "mr": "a.nii", "ct": "a.nii"}]})"},
      {1, R"({"data_root": ".", "training": [{"id": "a", "mr": "a.nii", "split": "val"}]})"},
  };
  int n = 0;
  for (const auto& [prefix, text] : seeds)
    writeSeed(out / ("seed" + std::to_string(n++)), prefix, std::vector<char>(text.begin(), text.end()));
}

void storeSeeds(const fs::path& out, const fs::path& scratch) {
  fs::create_directories(out);
  const fs::path file = scratch / "store.h5";
  {
    TrainingStoreWriter writer(file, nlohmann::json{{"note", "fuzz seed"}});
    int k = 0;
    for (const std::string split : {"train", "val"}) {
      const Volume mr = tinyVolume({4, 3, 2});
      Volume ct = mr.clone();
      for (auto& v : ct.voxels()) v = v / 3000.0f;
      Mask mask(mr.geometry()), valid(mr.geometry());
      mask.at(1, 1, 0) = 1;
      for (auto& v : valid.voxels()) v = 1;
      StoredCaseInfo info{"case" + std::to_string(k++), split, mr.geometry(), nlohmann::json{{"qa", 0.5}}};
      writer.writeCase(info, mr, ct, mask, valid);
    }
    writer.commit();
  }
  std::ofstream(out / "seed0", std::ios::binary).write(slurp(file).data(), std::streamsize(fs::file_size(file)));
}

/// Two slices of one oblique CT series written by ITK's GDCM writer (rescale intercept -1024).
void dicomSeeds(const fs::path& out, const fs::path& scratch) {
  fs::create_directories(out);
  using Image = itk::Image<short, 3>;
  std::vector<std::vector<char>> files;
  for (int k = 0; k < 2; ++k) {
    auto image = Image::New();
    Image::RegionType region;
    region.SetSize({4, 3, 1});
    image->SetRegions(region);
    image->Allocate();
    short v = short(-50 + 30 * k);
    for (auto* p = image->GetBufferPointer(); p != image->GetBufferPointer() + 12; ++p) *p = (v += 7);
    Image::DirectionType d;
    d.SetIdentity();
    d(0, 0) = d(1, 1) = std::cos(0.3);
    d(0, 1) = -std::sin(0.3);
    d(1, 0) = std::sin(0.3);
    image->SetDirection(d);
    const double spacing[3] = {0.8, 1.2, 2.5}, origin[3] = {-10.0, 20.0, 5.0 + 2.5 * k};
    image->SetSpacing(spacing);
    image->SetOrigin(origin);
    auto io = itk::GDCMImageIO::New();
    io->KeepOriginalUIDOn();
    auto& dict = io->GetMetaDataDictionary();
    itk::EncapsulateMetaData<std::string>(dict, "0008|0060", "CT");
    itk::EncapsulateMetaData<std::string>(dict, "0008|0016", "1.2.840.10008.5.1.4.1.1.2");
    itk::EncapsulateMetaData<std::string>(dict, "0020|000e", "1.2.826.0.1.3680043.2.1125.1.1");
    itk::EncapsulateMetaData<std::string>(dict, "0020|0011", "3");
    itk::EncapsulateMetaData<std::string>(dict, "0020|0013", std::to_string(k + 1));
    itk::EncapsulateMetaData<std::string>(dict, "0028|1052", "-1024");
    itk::EncapsulateMetaData<std::string>(dict, "0028|1053", "1");
    image->SetMetaDataDictionary(dict);
    auto writer = itk::ImageFileWriter<Image>::New();
    const fs::path file = scratch / ("slice" + std::to_string(k) + ".dcm");
    writer->SetFileName(file.string());
    writer->SetImageIO(io);
    writer->SetInput(image);
    writer->Update();
    files.push_back(slurp(file));
  }
  const std::size_t split = files[0].size();
  std::vector<char> two{char(1), char(split & 0xff), char((split >> 8) & 0xff), char((split >> 16) & 0xff)};
  two.insert(two.end(), files[0].begin(), files[0].end());
  two.insert(two.end(), files[1].begin(), files[1].end());
  std::ofstream(out / "seed0", std::ios::binary).write(two.data(), std::streamsize(two.size()));
  std::vector<char> one{0, 0, 0, 0};
  one.insert(one.end(), files[0].begin(), files[0].end());
  std::ofstream(out / "seed1", std::ios::binary).write(one.data(), std::streamsize(one.size()));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_make_seeds <out-folder>\n";
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path scratch = out / "scratch";
  fs::create_directories(scratch);
  try {
    volumeSeeds(out / "volume", scratch);
    manifestSeeds(out / "manifest");
    storeSeeds(out / "store", scratch);
    dicomSeeds(out / "dicom", scratch);
  } catch (const itk::ExceptionObject& e) {
    std::cerr << "fuzz_make_seeds: " << e.GetDescription() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "fuzz_make_seeds: " << e.what() << "\n";
    return 1;
  }
  fs::remove_all(scratch);
  return 0;
}
