// replaced by the metrics as they land
namespace mr2ct {}
