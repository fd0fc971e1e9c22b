#ifndef HOSTCRI_CRI_STREAMING_SPDY_DICTIONARY_H
#define HOSTCRI_CRI_STREAMING_SPDY_DICTIONARY_H

#define SPDY_DICTIONARY_LENGTH 1423

/* The preset zlib dictionary of SPDY/3 header blocks. */
extern const unsigned char spdy_dictionary[SPDY_DICTIONARY_LENGTH];

#endif
