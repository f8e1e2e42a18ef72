#pragma once
// A check ITK does not make before it is too late: ITK 5.2's NiftiImageIO::ReadImageInformation
// computes the orientation with vnl_svd, which calls abort() (not an exception) when the header's
// voxel sizes, quaternion, offsets or sform rows hold NaN or Inf (found by fuzz_volume_reader).
// One corrupt file would then kill a whole batch, so the header is checked before ITK sees it.
// Private to mr2ct_preprocessing.
#include <filesystem>

namespace mr2ct::detail {

/// Throws DataError(path, "NIfTI header: <field> is <value> ...") when pixdim[0..3], or (when the
/// qform/sform code says they are used) the quaternion, offsets or sform rows are not finite or
/// beyond +-1e9. For .nii/.nii.gz also refuses what ITK would silently misread: a wrong sizeof_hdr
/// or magic number (ITK then falls back to Analyze 7.5 and loses the orientation) and zero or
/// negative sizes (ITK turns them into 1). Other files (.hdr/.img pairs) get the value checks only.
void checkNiftiHeaderValues(const std::filesystem::path& path);

/// niftilib (inside ITK) replaces NaN/Inf float voxels by 0 while reading, so readVolume's own
/// check never sees them. This scans the float32/float64 voxel data of a .nii/.nii.gz as stored and
/// throws DataError(path, "contains NaN or Inf voxels (first at voxel i)"). Other types: no-op.
void checkNiftiVoxelsFinite(const std::filesystem::path& path);

}  // namespace mr2ct::detail
