// blocks.h: the two sublayers every transformer here is made of, with their
// backward passes. Both are pre-norm residual branches, x += f(norm(x)):
//   attention:    (T5 self/cross attention, LLaMA attention with RoPE and GQA)
//   feed-forward: (T5 ReLU or gated-GELU, LLaMA SwiGLU)
// The model files (t5.c, llama.c) wire them together.
#ifndef DEAL_BLOCKS_H
#define DEAL_BLOCKS_H

#include "model/linear.h"

// How one attention call sees its keys: see backend.h's attention(). A padded
// batch is B sequences of Tq queries over Tk keys each. A packed batch
// (seq != NULL) is B sequences of different lengths laid end to end: the
// queries of sequence i on rows seq[i]..seq[i+1]-1, its keys on rows
// kv_seq[i]..kv_seq[i+1]-1 of the keys' input (kv_seq NULL: the queries' rows,
// as in self-attention); each sees only its own keys, and no padding is
// computed (Tq, Tk, kv_start, kv_end unused). A packed batch's bias (and dbias)
// is one [H, Tq_i, Tk_i] block per sequence, end to end.
typedef struct {
    int B, Tq, Tk;
    const int *seq, *kv_seq;  // [B + 1] row offsets of a packed batch's queries and keys, or NULL
    const float *bias;  // [H, Tq, Tk] added to the scores (T5), or NULL
    float *dbias;  // where the backward pass accumulates the bias gradient, or NULL
    const int *kv_start, *kv_end;  // per example, or NULL for all keys
    int causal;
    const int *q_pos, *k_pos;  // RoPE positions per row (LLaMA), or NULL
    const float *rope_cos, *rope_sin;  // [max_pos, head_dim/2]
    int forward_only;  // no backward pass follows (generation): keep no copy of the input for one
} attn_geometry;

typedef struct {
    float *norm, *dnorm;  // pre-norm weight [C] and its gradient (NULL if frozen)
    linear q, k, v, o;
    int n_heads, n_kv_heads, head_dim;
    float scale;  // of the scores: T5 1, LLaMA 1/sqrt(head_dim)
    float eps;
    // Saved by the forward pass.
    attn_geometry g;
    const float *x_in;  // the residual stream as it entered
    const float *kv_in;  // keys/values' input: the normed x (self) or the encoder output (cross)
    float *ln, *rstd, *qh, *kh, *vh, *probs, *att;
} attn_block;

typedef struct {
    float *norm, *dnorm;
    linear gate, up, down;  // gated: down(act(gate x) * up x); plain: down(act(gate x)), up unused
    int gated, act;
    float eps;
    const float *x_in;
    float *ln, *rstd, *a_gate, *a_up, *hidden;
    int N;
} ffn_block;

// x [B*Tq, C] += attention(norm(x), kv) where kv is norm(x) itself when
// kv_src is NULL (self-attention) or kv_src [B*Tk, C] (cross-attention).
void attn_forward(const backend *be, arena *ar, attn_block *a, float *x, const float *kv_src,
                  const attn_geometry *g, rng *dropout);
// Given dx (the gradient of the residual stream after the block), adds the
// branch's contribution to dx and, for cross-attention, to dkv_src. With
// input_grad 0 nothing below the block trains: dx is only read, and the
// products that would carry the gradient to the block's input are skipped.
void attn_backward(const backend *be, arena *ar, attn_block *a, float *dx, float *dkv_src, int input_grad);

// Keys and values of earlier positions, per example: k, v [B, Tmax, KVH*hs].
typedef struct {
    float *k, *v;
    int Tmax;
} kv_cache;

// Copies packed keys and values k, v [seq[B], D] (example i on rows
// seq[i]..seq[i+1]-1) into the cache, example i's slab from position 0.
void kv_cache_fill(const backend *be, const kv_cache *c, const float *k, const float *v, const int *seq, int B, int D);

// One decoding step: x [B, C] holds one new token per example, and each
// attends to its own cache. Self-attention (self = 1) first writes this
// step's key and value at position len[b] - 1; cross-attention reads keys
// 0..len[b]-1 of a cache filled once. bias [H, len] (T5's decoder; every
// len[b] equal) or NULL; pos [B] are the RoPE positions, or NULL.
void attn_step(const backend *be, arena *ar, attn_block *a, float *x, int B, const kv_cache *c, int self,
               const int *len, const float *bias, const int *pos, const float *rope_cos, const float *rope_sin);

// forward_only: no backward pass follows (generation), so no copy of the input is kept for one.
void ffn_forward(const backend *be, arena *ar, ffn_block *f, float *x, int N, rng *dropout, int forward_only);
void ffn_backward(const backend *be, arena *ar, ffn_block *f, float *dx);

#endif
