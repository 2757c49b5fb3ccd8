// opl_infer MODEL.pt2 INPUT.bin OUTPUT.bin
//
// Runs an opl operator compiled ahead of time (`opl export BUNDLE -o MODEL.pt2 --format aoti`)
// on one input and writes its output. The operator includes its normalisation, so both tensors
// are in physical units: (batch, channels, *spatial) for grid operators, (batch, channels, dofs)
// for mesh operators.
//
// Tensor files: int64 rank, int64 sizes[rank], then float32 values in C order (little-endian),
// what examples/cpp/tensor_file.py reads and writes.
#include <torch/torch.h>
#include <torch/csrc/inductor/aoti_package/model_package_loader.h>

#include <chrono>
#include <cstdint>
#include <fstream>
#include <iostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace {

torch::Tensor read_tensor(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path + ": cannot open");
  int64_t rank = 0;
  in.read(reinterpret_cast<char*>(&rank), sizeof rank);
  if (!in || rank < 1 || rank > 8) throw std::runtime_error(path + ": bad rank");
  std::vector<int64_t> sizes(rank);
  in.read(reinterpret_cast<char*>(sizes.data()), rank * sizeof(int64_t));
  torch::Tensor tensor = torch::empty(sizes, torch::kFloat32);
  in.read(reinterpret_cast<char*>(tensor.data_ptr<float>()), tensor.numel() * sizeof(float));
  if (!in) throw std::runtime_error(path + ": fewer values than its sizes say");
  return tensor;
}

void write_tensor(const std::string& path, const torch::Tensor& value) {
  torch::Tensor tensor = value.to(torch::kFloat32).contiguous();
  std::ofstream out(path, std::ios::binary);
  int64_t rank = tensor.dim();
  out.write(reinterpret_cast<const char*>(&rank), sizeof rank);
  out.write(reinterpret_cast<const char*>(tensor.sizes().data()), rank * sizeof(int64_t));
  out.write(reinterpret_cast<const char*>(tensor.data_ptr<float>()), tensor.numel() * sizeof(float));
  if (!out) throw std::runtime_error(path + ": cannot write");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: opl_infer MODEL.pt2 INPUT.bin OUTPUT.bin\n";
    return 2;
  }
  try {
    c10::InferenceMode inference;
    torch::inductor::AOTIModelPackageLoader model(argv[1]);
    torch::Tensor input = read_tensor(argv[2]);
    auto start = std::chrono::steady_clock::now();
    std::vector<torch::Tensor> outputs = model.run({input});
    auto seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    write_tensor(argv[3], outputs.at(0));
    std::cout << "input " << input.sizes() << " -> output " << outputs.at(0).sizes() << " in "
              << seconds * 1e3 << " ms\n";
  } catch (const std::exception& error) {
    std::cerr << "opl_infer: error: " << error.what() << "\n";
    return 1;
  }
  return 0;
}
