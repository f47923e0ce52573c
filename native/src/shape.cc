// Views, joins, splits and indexing.
#include "handle.h"

namespace corl {

CORL_FN(Reshape) { return Wrap(info.Env(), Unwrap(info[0]).reshape(Ints(info[1]))); }
CORL_FN(View) { return Wrap(info.Env(), Unwrap(info[0]).view(Ints(info[1]))); }
CORL_FN(Permute) { return Wrap(info.Env(), Unwrap(info[0]).permute(Ints(info[1]))); }
CORL_FN(Transpose) { return Wrap(info.Env(), Unwrap(info[0]).transpose(Int(info[1]), Int(info[2]))); }
CORL_FN(Expand) { return Wrap(info.Env(), Unwrap(info[0]).expand(Ints(info[1]))); }
CORL_FN(Repeat) { return Wrap(info.Env(), Unwrap(info[0]).repeat(Ints(info[1]))); }
CORL_FN(Flip) { return Wrap(info.Env(), Unwrap(info[0]).flip(Ints(info[1]))); }

// slice(t, dim, start, end, step): Python's t[..., start:end:step, ...]
CORL_FN(Slice) {
  return Wrap(info.Env(), Unwrap(info[0]).slice(Int(info[1]), Int(info[2]), Int(info[3]), Int(info[4])));
}
CORL_FN(Narrow) { return Wrap(info.Env(), Unwrap(info[0]).narrow(Int(info[1]), Int(info[2]), Int(info[3]))); }
CORL_FN(Select) { return Wrap(info.Env(), Unwrap(info[0]).select(Int(info[1]), Int(info[2]))); }

CORL_FN(Squeeze) {
  auto& t = Unwrap(info[0]);
  return Wrap(info.Env(), IsMissing(info[1]) ? t.squeeze() : t.squeeze(Int(info[1])));
}
CORL_FN(Unsqueeze) { return Wrap(info.Env(), Unwrap(info[0]).unsqueeze(Int(info[1]))); }
CORL_FN(Flatten) { return Wrap(info.Env(), Unwrap(info[0]).flatten(Int(info[1]), Int(info[2]))); }

CORL_FN(Cat) { return Wrap(info.Env(), at::cat(UnwrapList(info[0]), Int(info[1]))); }
CORL_FN(Stack) { return Wrap(info.Env(), at::stack(UnwrapList(info[0]), Int(info[1]))); }

// split(t, sizes: number | number[], dim)
CORL_FN(Split) {
  auto& t = Unwrap(info[0]);
  auto dim = Int(info[2]);
  if (info[1].IsArray()) return WrapList(info.Env(), t.split_with_sizes(Ints(info[1]), dim));
  return WrapList(info.Env(), t.split(Int(info[1]), dim));
}
CORL_FN(Chunk) { return WrapList(info.Env(), Unwrap(info[0]).chunk(Int(info[1]), Int(info[2]))); }

CORL_FN(IndexSelect) {
  return Wrap(info.Env(), at::index_select(Unwrap(info[0]), Int(info[1]), Unwrap(info[2])));
}
CORL_FN(Gather) { return Wrap(info.Env(), at::gather(Unwrap(info[0]), Int(info[1]), Unwrap(info[2]))); }
CORL_FN(Scatter) {
  return Wrap(info.Env(), at::scatter(Unwrap(info[0]), Int(info[1]), Unwrap(info[2]), Unwrap(info[3])));
}
CORL_FN(MaskedFill) {
  return Wrap(info.Env(), at::masked_fill(Unwrap(info[0]), Unwrap(info[1]), ToScalar(info[2])));
}
CORL_FN(Where) {
  return Wrap(info.Env(), at::where(Unwrap(info[0]), Unwrap(info[1]), Unwrap(info[2])));
}
CORL_FN(RepeatInterleave) {
  return Wrap(info.Env(), at::repeat_interleave(Unwrap(info[0]), Int(info[1]), Int(info[2])));
}
CORL_FN(Triu) { return Wrap(info.Env(), at::triu(Unwrap(info[0]), Int(info[1]))); }
CORL_FN(Tril) { return Wrap(info.Env(), at::tril(Unwrap(info[0]), Int(info[1]))); }
CORL_FN(OneHot) { return Wrap(info.Env(), at::one_hot(Unwrap(info[0]), Int(info[1]))); }
CORL_FN(Nonzero) { return Wrap(info.Env(), at::nonzero(Unwrap(info[0]))); }

// indexCopy_(t, dim, index, src): in place, e.g. writing new keys into a preallocated KV cache.
CORL_FN(IndexCopy_) {
  Unwrap(info[0]).index_copy_(Int(info[1]), Unwrap(info[2]), Unwrap(info[3]));
  return info.Env().Undefined();
}

void RegisterShape(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "reshape", Reshape);
  Export(env, exports, "view", View);
  Export(env, exports, "permute", Permute);
  Export(env, exports, "transpose", Transpose);
  Export(env, exports, "expand", Expand);
  Export(env, exports, "repeat", Repeat);
  Export(env, exports, "flip", Flip);
  Export(env, exports, "slice", Slice);
  Export(env, exports, "narrow", Narrow);
  Export(env, exports, "select", Select);
  Export(env, exports, "squeeze", Squeeze);
  Export(env, exports, "unsqueeze", Unsqueeze);
  Export(env, exports, "flatten", Flatten);
  Export(env, exports, "cat", Cat);
  Export(env, exports, "stack", Stack);
  Export(env, exports, "split", Split);
  Export(env, exports, "chunk", Chunk);
  Export(env, exports, "indexSelect", IndexSelect);
  Export(env, exports, "gather", Gather);
  Export(env, exports, "scatter", Scatter);
  Export(env, exports, "maskedFill", MaskedFill);
  Export(env, exports, "where", Where);
  Export(env, exports, "repeatInterleave", RepeatInterleave);
  Export(env, exports, "triu", Triu);
  Export(env, exports, "tril", Tril);
  Export(env, exports, "oneHot", OneHot);
  Export(env, exports, "nonzero", Nonzero);
  Export(env, exports, "indexCopy_", IndexCopy_);
}

}  // namespace corl
