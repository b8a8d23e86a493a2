#include <rbd/librbd.h>
#include <rados/librados.h>
