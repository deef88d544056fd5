/*
 * status.h: the progress bar and the periodic per-target summary (status.c).
 */
#ifndef REINDEX_STREAMER_STATUS_H
#define REINDEX_STREAMER_STATUS_H

#include "target.h"

void		status_progress_bar(Target **targets, int n);
void		status_summary(Target **targets, int n);

#endif							/* REINDEX_STREAMER_STATUS_H */
