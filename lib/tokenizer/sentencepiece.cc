// sentencepiece.cc: the C++ shim over libsentencepiece behind the C interface
// of tokenizer_impl.h: loading, encoding and decoding with a
// SentencePieceProcessor, and training unigram models. No C++ exception may
// unwind into C: every entry point catches them all and dies with a message.
#include <sentencepiece_processor.h>
#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

extern "C" {
#include "base/util.h"
}
#include "tokenizer/tokenizer_impl.h"

// Exported by libsentencepiece, but its header (common.h) is not installed.
namespace sentencepiece::logging {
void SetMinLogLevel(int v);
}

namespace {

using sentencepiece::SentencePieceProcessor;
using sentencepiece::util::Status;

// Runs f; a C++ exception becomes a fatal error naming what was being done.
template <typename F>
auto guarded(const char *what, F f) -> decltype(f()) {
    try {
        return f();
    } catch (const std::exception &e) {
        die_internal("sentencepiece: %s: %s", what, e.what());
    } catch (...) {
        die_internal("sentencepiece: %s: unknown C++ exception", what);
    }
}

// SentencePiece's messages read "file.cc(line) [condition] explanation"; the
// explanation alone, where there is one, is the clearer.
std::string reason(const Status &status) {
    std::string message = status.error_message();
    size_t end = message.rfind("] ");
    if (end == std::string::npos) return message;
    return end + 2 < message.size() ? message.substr(end + 2) : message.substr(0, end + 1);
}

void check(const Status &status, const char *what) {
    if (!status.ok()) die("sentencepiece: %s: %s", what, reason(status).c_str());
}

void *sp_load(const char *path, tokenizer_info *info) {
    return guarded("loading a model", [&] {
        auto *sp = new SentencePieceProcessor;
        Status status = sp->Load(path);
        if (!status.ok())  // the file was readable (tokenizer.c checked), so its content is bad
            tokenizer_load_fail(path, "not a valid SentencePiece model (%s)", reason(status).c_str());
        int n = sp->GetPieceSize();
        uint64_t h = FNV1A64_INIT;
        for (int id = 0; id < n; id++) {
            const std::string &piece = sp->IdToPiece(id);
            h = tokenizer_fingerprint_piece(h, piece.data(), piece.size());
        }
        *info = tokenizer_info{n, sp->bos_id(), sp->eos_id(), sp->pad_id(), sp->unk_id(), h};
        return static_cast<void *>(sp);
    });
}

void sp_free(void *impl) { delete static_cast<SentencePieceProcessor *>(impl); }

int32_t *sp_encode(const void *impl, const char *text, size_t len, size_t *n) {
    return guarded("encoding", [&] {
        auto *sp = static_cast<const SentencePieceProcessor *>(impl);
        std::vector<int> ids;
        check(sp->Encode(std::string_view(text, len), &ids), "encoding");
        auto *out = static_cast<int32_t *>(xmalloc(ids.size() * sizeof(int32_t)));
        std::copy(ids.begin(), ids.end(), out);
        *n = ids.size();
        return out;
    });
}

// SentencePiece renders control pieces (pad, eos, bos) as nothing; to show
// them when not skipping, runs of ordinary ids are decoded between them and
// the control pieces written as their text. Skipping drops control and
// unknown ids.
char *sp_decode(const void *impl, const int32_t *ids, size_t n, bool skip_special, size_t *len) {
    return guarded("decoding", [&] {
        auto *sp = static_cast<const SentencePieceProcessor *>(impl);
        std::string text, part;
        std::vector<int> run;
        auto flush = [&] {
            if (run.empty()) return;
            check(sp->Decode(run, &part), "decoding");
            text += part;
            run.clear();
        };
        for (size_t i = 0; i < n; i++) {
            bool control = sp->IsControl(ids[i]);
            if (skip_special && (control || sp->IsUnknown(ids[i]))) continue;
            if (control) {
                flush();
                text += sp->IdToPiece(ids[i]);
            } else {
                run.push_back(ids[i]);
            }
        }
        flush();
        char *out = static_cast<char *>(xmalloc(text.size()));
        memcpy(out, text.data(), text.size());
        *len = text.size();
        return out;
    });
}

int32_t sp_piece_to_id(const void *impl, const char *piece) {
    return guarded("looking up a piece", [&] {
        auto *sp = static_cast<const SentencePieceProcessor *>(impl);
        int id = sp->PieceToId(piece);  // the unknown id for pieces it lacks
        return id >= 0 && sp->IdToPiece(id) == piece ? id : -1;
    });
}

// Feeds the texts to the trainer without a temporary file.
class text_iterator : public sentencepiece::SentenceIterator {
  public:
    text_iterator(char *const *texts, size_t n) : texts_(texts), n_(n) { load(); }
    bool done() const override { return i_ >= n_; }
    void Next() override {
        i_++;
        load();
    }
    const std::string &value() const override { return value_; }
    Status status() const override { return Status(); }

  private:
    void load() {
        if (!done()) value_ = texts_[i_];
    }
    char *const *texts_;
    size_t n_, i_ = 0;
    std::string value_;
};

}  // namespace

extern "C" const tokenizer_ops sp_ops = {
    "sentencepiece", sp_load, sp_free, sp_encode, sp_decode, sp_piece_to_id,
};

// T5's conventions (pad 0, eos 1, unk 2, no bos); every character seen is
// kept, and byte fallback spells characters never seen as their UTF-8 bytes
// (256 pieces), so that any text decodes back exactly. SentencePiece's own
// progress log is silenced.
extern "C" char *sp_train(char *const *texts, size_t n_texts, int vocab_size, size_t *len) {
    return guarded("training", [&] {
        size_t longest = 0;
        for (size_t i = 0; i < n_texts; i++) longest = std::max(longest, strlen(texts[i]));
        if (longest == 0) die("cannot train a SentencePiece vocabulary: no text to train on");
        std::string args = "--model_type=unigram --vocab_size=" + std::to_string(vocab_size) +
                           " --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1"
                           " --character_coverage=1.0 --byte_fallback=true"
                           " --max_sentence_length=" +
                           std::to_string(std::max<size_t>(longest, 4192));
        sentencepiece::logging::SetMinLogLevel(1);  // warnings and errors only
        text_iterator it(texts, n_texts);
        std::string model;
        Status status = sentencepiece::SentencePieceTrainer::Train(args, &it, &model);
        if (!status.ok())
            die("cannot train a SentencePiece vocabulary of %d pieces: %s", vocab_size, reason(status).c_str());
        char *out = static_cast<char *>(xmalloc(model.size()));
        memcpy(out, model.data(), model.size());
        *len = model.size();
        return out;
    });
}
