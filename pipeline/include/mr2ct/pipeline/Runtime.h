#pragma once

namespace mr2ct {

/// Applies --threads to torch's intra-op pool and ITK's global thread pool (0 = all cores).
void configureRuntime(int threads);

/// Called first thing in main(): allocator tuning that must precede any large allocation.
void configureProcess();

}  // namespace mr2ct
