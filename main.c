#include <stdio.h>
int main(void)
{
    puts("hostcri " HOSTCRI_VERSION);
    return 0;
}
