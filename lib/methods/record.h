// record.h: deal.json, what an adapter folder says about how it was trained:
//   {"method": "inclora", "task": "yahoo", "tasks": ["dbpedia", "amazon", "yahoo"],
//    "lora_r": 8, "lora_alpha": 32}
// task is the adapter's own task (the last trained; deal-predict picks
// pertask adapters by it), tasks the sequence so far, lora_r and lora_alpha
// one task's LoRA (inclora and olora stack one such block per task, so their
// adapter's r is lora_r times the number of blocks).
#ifndef DEAL_RECORD_H
#define DEAL_RECORD_H

typedef struct {
    char *method;  // NULL: unknown (an adapter from elsewhere)
    char **tasks;
    int n_tasks;
    int r;
    float alpha;
} adapter_record;

// Reads DIR/deal.json. An adapter without one (PEFT's, or from before deal.json
// existed) reads as: method unknown, no tasks, its own r and alpha.
adapter_record record_read(const char *dir);
void record_write(const adapter_record *rec, const char *dir);
// Appends a task to the sequence.
void record_add_task(adapter_record *rec, const char *task);
void record_free(adapter_record *rec);

#endif
